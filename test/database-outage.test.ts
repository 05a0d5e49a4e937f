import test, { type ExecutionContext } from 'ava';

import { eventually } from './helpers/eventually.js';
import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startServerBehindProxy, type TestServer } from './helpers/server.js';
import { holdTableLock, type TableLock } from './helpers/table-lock.js';

// Always on Postgres, whatever TEST_DATABASE says (see startServerBehindProxy).
const serverBehindProxy = (poolMax: number) => startServerBehindProxy({ poolMax });

const lead = (server: TestServer, key: string, email: string, headers: Record<string, string> = {}) =>
  api(server, '/api/v1/leads', { body: { firstName: 'Out', lastName: 'Age', email }, headers: { Authorization: `Bearer ${key}`, ...headers } });

const connectionFailures = (server: TestServer) => server.logs.filter((line) => line.includes('a database connection failed')).length;

function assertUnavailable(t: ExecutionContext, answer: Awaited<ReturnType<typeof api>>, what: string) {
  t.is(answer.status, 503, what);
  t.is(answer.headers.get('content-type'), 'application/problem+json', what);
  t.is(answer.headers.get('retry-after'), '5', what);
  t.notRegex(JSON.stringify(answer.body), /ECONNREFUSED|Connection terminated|terminating connection|stack|insert into/i, what);
}

test('the database going away gives 503s, not a crash; the server serves again when it returns', async (t) => {
  const { server, proxy, database, close } = await serverBehindProxy(5);
  let lock: TableLock | undefined;
  try {
    const owner = await signIn(server, 'owner@demo.test');
    const { key } = await createKey(server, owner, 'Outage');
    t.is((await lead(server, key, 'before@example.com')).status, 201);

    // A burst, held by a lock on members: leads wait inside Postgres (as many as the server writes
    // at once), the rest in the server for their turn. Then the database goes away: the network to
    // it, and its sessions with their open statements (as when its host stops).
    lock = await holdTableLock(database.env.DATABASE_URL!, 'members');
    const emails = Array.from({ length: 6 }, (_, index) => `burst.${index}@example.com`);
    const burst = emails.map((email) => lead(server, key, email));
    await lock.waiters(1);
    await proxy.cut();
    await lock.endOtherSessions();
    const answers = await Promise.all(burst);
    for (const [index, answer] of answers.entries()) assertUnavailable(t, answer, emails[index]!);
    await lock.release();

    assertUnavailable(t, await lead(server, key, 'during@example.com'), 'a lead while the database is away');
    t.is((await api(server, '/readyz')).status, 503);
    t.is((await api(server, '/healthz')).status, 200, 'the process is alive');
    t.is((await api(server, '/api/v1/me', { token: owner })).status, 503);

    await proxy.restore();
    await eventually(async () => (await api(server, '/readyz')).status === 200, { what: '/readyz to answer 200 again' });
    t.is((await lead(server, key, 'after@example.com')).status, 201, 'serves again');
    t.is((await api(server, '/api/v1/me', { token: owner })).status, 200, 'sessions and tokens survived');
    // Every lead answered 201 is there; none answered 503 is: not those inside the database, not those waiting in the server.
    t.deepEqual((await server.db('members').whereIn('email', ['before@example.com', ...emails, 'during@example.com', 'after@example.com']).pluck('email')).sort(), [
      'after@example.com',
      'before@example.com',
    ]);
  } finally {
    await lock?.close();
    await close();
  }
});

test('a lead in flight when the network to the database breaks: 503, and a retry tells what happened to it', async (t) => {
  const { server, proxy, database, close } = await serverBehindProxy(5);
  let lock: TableLock | undefined;
  try {
    const { key } = await createKey(server, await signIn(server, 'owner@demo.test'), 'Cut Off');
    lock = await holdTableLock(database.env.DATABASE_URL!, 'members');
    const once = { 'Idempotency-Key': 'crm-lead-cut-off' };
    const held = [lead(server, key, 'cut.once@example.com', once), lead(server, key, 'cut.plain@example.com')];
    // Both inside the database (a pool of 5 writes two leads at once), waiting for the lock.
    const waiters = await lock.waiters(held.length);
    await proxy.cut();
    const [withKey, plain] = await Promise.all(held);
    assertUnavailable(t, withKey!, 'with an Idempotency-Key');
    assertUnavailable(t, plain!, 'without one');

    // The database lives on: it finishes both statements once the lock goes, and only then finds
    // its client gone. So a 503 for a lead in flight does not prove it was not written.
    await lock.release();
    await lock.ended(waiters.map((waiter) => waiter.pid));
    await proxy.restore();
    await eventually(async () => (await api(server, '/readyz')).status === 200, { what: '/readyz to answer 200 again' });
    const stored = await server.db('members').whereIn('email', ['cut.once@example.com', 'cut.plain@example.com']).select('id', 'email');
    t.is(stored.length, 2, 'both were written after their 503');

    // The retry the 503 asks for gets the truth: the same lead, once.
    const retried = await lead(server, key, 'cut.once@example.com', once);
    t.is(retried.status, 201);
    t.is(retried.headers.get('idempotent-replayed'), 'true');
    t.is(retried.body.id, stored.find((row) => row.email === 'cut.once@example.com')?.id);
    const again = await lead(server, key, 'cut.plain@example.com');
    t.is(again.status, 409, 'without a key: "already a member", naming it');
    t.is(again.body.leadId, stored.find((row) => row.email === 'cut.plain@example.com')?.id);
    t.is(Number((await server.db('members').whereIn('email', ['cut.once@example.com', 'cut.plain@example.com']).count('* as n').first())?.n), 2);
  } finally {
    await lock?.close();
    await close();
  }
});

test('a database connection reset (ECONNRESET) is a 503, never taken for a client that went away', async (t) => {
  const { server, proxy, close } = await serverBehindProxy(2);
  try {
    const { key } = await createKey(server, await signIn(server, 'owner@demo.test'), 'Reset');
    proxy.resetAll(true);
    for (const email of ['reset.1@example.com', 'reset.2@example.com']) {
      assertUnavailable(t, await lead(server, key, email), email);
    }
    proxy.resetAll(false);
  } finally {
    await close();
  }
});

test('a connection that fails while a transaction holds it is dropped, not a crash; the next requests get new connections', async (t) => {
  const { server, proxy, close } = await serverBehindProxy(2);
  try {
    const owner = await signIn(server, 'owner@demo.test');
    const { key } = await createKey(server, owner, 'Held');
    // A connection checked out and idle between two statements: no query is waiting to hear of its failure.
    const trx = await server.db.transaction();
    await trx.raw('select 1');
    const failedBefore = connectionFailures(server);
    proxy.resetAll(true);
    // The server's own word that the idle connection heard of its reset (and did not crash on it).
    await eventually(() => connectionFailures(server) > failedBefore, { what: 'the server to log the failed connection' });
    proxy.resetAll(false);
    await t.throwsAsync(() => trx.raw('select 1'));
    await trx.rollback().catch(() => undefined);

    // The process is alive (an unhandled 'error' event would have ended it), and the pool connects afresh.
    t.is((await api(server, '/healthz')).status, 200);
    t.is((await lead(server, key, 'held@example.com')).status, 201);
  } finally {
    await close();
  }
});

test('the token endpoint answers 503 with Retry-After while the database is away, not oidc-provider\'s own 500', async (t) => {
  const { server, proxy, close } = await serverBehindProxy(2);
  try {
    // A code exchange: oidc-provider looks the code up in the database first.
    const exchange = () =>
      fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'no-such-code', client_id: 'octiv-app', redirect_uri: `${server.url}/console/callback`, code_verifier: 'v'.repeat(43) }),
      });
    const known = await exchange();
    t.is(known.status, 400, 'an unknown code, the database there');
    t.like(await known.json(), { error: 'invalid_grant' });

    await proxy.cut();
    const away = await exchange();
    t.is(away.status, 503);
    t.is(away.headers.get('retry-after'), '5');
    t.like(await away.json(), { error: 'temporarily_unavailable' });

    await proxy.restore();
    await eventually(async () => (await exchange()).status === 400, { what: 'the token endpoint to answer 400 again' });
  } finally {
    await close();
  }
});
