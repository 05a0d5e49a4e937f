import test from 'ava';

import { createTestDatabase, POSTGRES_ADMIN_URL, type TestDatabase } from './helpers/database.js';
import { createKey, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startPgBouncer, targetOf, type PgBouncer } from './helpers/pgbouncer.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// Always on Postgres, whatever TEST_DATABASE says: the pooler is a Postgres deployment's.
// PgBouncer 1.18 (Debian 12's) in transaction mode with fewer server connections than the
// server's pool: each statement may land on a server connection another client used last.
let pooler: PgBouncer;
test.before(async () => {
  pooler = await startPgBouncer({ target: targetOf(POSTGRES_ADMIN_URL), mode: 'transaction', poolSize: 4 });
});
test.after.always(async () => pooler?.close());

async function serverThroughPooler(prepared: 'on' | 'off'): Promise<{ server: TestServer; database: TestDatabase }> {
  const created = await createTestDatabase('postgres');
  const url = pooler.through(created.env.DATABASE_URL!);
  const database: TestDatabase = {
    ...created,
    config: { kind: 'postgres', url, poolMax: 10, preparedStatements: prepared === 'on' },
    env: { DATABASE_URL: url, DATABASE_PREPARED_STATEMENTS: prepared },
  };
  return { server: await startTestServer({ database }), database };
}

const lead = (server: TestServer, key: string, email: string, headers: Record<string, string> = {}) =>
  api(server, '/api/v1/leads', { body: { firstName: 'Pool', lastName: 'Ed', email }, headers: { Authorization: `Bearer ${key}`, ...headers } });

/** Sends `count` calls of `send`, at most `concurrency` at once, and returns every answer in order. */
async function inParallel<T>(count: number, concurrency: number, send: (index: number) => Promise<T>): Promise<T[]> {
  const answers: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        answers[index] = await send(index);
      }
    }),
  );
  return answers;
}

const statuses = (answers: { status: number }[]) => answers.reduce<Record<number, number>>((counts, { status }) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

test('through PgBouncer in transaction mode with DATABASE_PREPARED_STATEMENTS=off: leads, idempotency, introspection, deletes and audit all hold', async (t) => {
  const { server, database } = await serverThroughPooler('off');
  try {
    const owner = await signIn(server, 'owner@demo.test');
    const { key, id } = await createKey(server, owner, 'Through the pooler');

    // 300 leads, 30 at once (written together in batches): every one 201 and stored.
    const emails = Array.from({ length: 300 }, (_, index) => `pooled.${index}@example.com`);
    const answers = await inParallel(emails.length, 30, (index) => lead(server, key, emails[index]!));
    t.deepEqual(statuses(answers), { 201: 300 });
    t.is(Number((await server.db('members').whereIn('email', emails).count({ n: '*' }))[0]!.n), 300);

    // 50 Idempotency-Key pairs, both of a pair at once: one lead each, the same answer twice.
    const pairs = await inParallel(50, 10, async (index) => {
      const headers = { 'Idempotency-Key': `pair-${index}` };
      const email = `pair.${index}@example.com`;
      return Promise.all([lead(server, key, email, headers), lead(server, key, email, headers)]);
    });
    for (const [index, [first, second]] of pairs.entries()) {
      const answered = [first.status, second.status].sort();
      // Both 201 (one of them a replay), or one 201 and a 409 while the other was in flight.
      t.true(answered[0] === 201 && (answered[1] === 201 || answered[1] === 409), `pair ${index}: ${answered.join(', ')}`);
      if (answered[1] === 201) {
        t.is(first.body.id, second.body.id, `pair ${index}: the same lead`);
        t.is([first, second].filter((answer) => answer.headers.get('idempotent-replayed') === 'true').length, 1, `pair ${index}: one replay`);
      }
    }
    t.is(Number((await server.db('members').where('email', 'like', 'pair.%').count({ n: '*' }))[0]!.n), 50);

    // Introspection, 10 at once.
    const introspections = await Promise.all(Array.from({ length: 10 }, () => introspect(server, key)));
    t.true(introspections.every((answer) => answer.status === 200 && answer.body.active === true));

    // Deleted: every request after is 401, none 500.
    t.is((await api(server, `/api/v1/api-keys/${id}`, { token: owner, method: 'DELETE' })).status, 204);
    const refused = await inParallel(40, 20, (index) => lead(server, key, `after.${index}@example.com`));
    t.deepEqual(statuses(refused), { 401: 40 });
    t.is((await introspect(server, key)).body.active, false);

    // The audit log saw it all.
    const audit = await api(server, '/api/v1/audit-events?limit=100', { token: owner });
    t.is(audit.status, 200);
    const types = new Set((audit.body.items as { action: string }[]).map((event) => event.action));
    for (const type of ['api_key.created', 'api_key.deleted']) t.true(types.has(type), type);
    t.false(server.logs.some((line) => line.includes('"level":50')), 'no error was logged');
  } finally {
    await server.close();
    await database.drop();
  }
});

test('left on behind a transaction pooler, prepared statements fail as 503 naming the setting, and a lead is stored if and only if it was answered 201', async (t) => {
  const { server, database } = await serverThroughPooler('on');
  try {
    const owner = await signIn(server, 'owner@demo.test');
    const { key } = await createKey(server, owner, 'Misconfigured');
    const emails = Array.from({ length: 200 }, (_, index) => `misconfigured.${index}@example.com`);
    const answers = await inParallel(emails.length, 30, (index) => lead(server, key, emails[index]!));
    t.log(statuses(answers));
    t.false(answers.some((answer) => answer.status === 500), 'no 500');
    const stored = new Set(await server.db('members').whereIn('email', emails).pluck('email'));
    for (const [index, answer] of answers.entries()) t.is(stored.has(emails[index]!), answer.status === 201, `${emails[index]}: ${answer.status}`);
    if (answers.some((answer) => answer.status === 503)) t.true(server.logs.some((line) => line.includes('DATABASE_PREPARED_STATEMENTS=off')), 'the log names the setting');
  } finally {
    await server.close();
    await database.drop();
  }
});
