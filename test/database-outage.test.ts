import { setTimeout as sleep } from 'node:timers/promises';

import test from 'ava';

import { createTestDatabase, POSTGRES_ADMIN_URL } from './helpers/database.js';
import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer } from './helpers/server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

// Always on Postgres, whatever TEST_DATABASE says: the embedded database has
// no network to lose. The shared Postgres itself is never stopped; a proxy
// between the server and it is cut instead.
/** A test server whose Postgres connections all go through a TCP proxy the test controls. */
async function serverBehindProxy(poolMax: number) {
  const database = await createTestDatabase('postgres');
  const admin = new URL(POSTGRES_ADMIN_URL);
  const proxy = await startTcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
  const url = new URL(database.env.DATABASE_URL!);
  url.host = `127.0.0.1:${proxy.port}`;
  const server = await startTestServer({
    database: { ...database, config: { kind: 'postgres', url: url.toString(), poolMax }, env: { DATABASE_URL: url.toString() } },
  });
  return {
    server,
    proxy,
    async close() {
      await server.close();
      await proxy.close();
      await database.drop();
    },
  };
}

test('the database going away gives 503s, not a crash; the server serves again when it returns', async (t) => {
  const { server, proxy, close } = await serverBehindProxy(5);
  try {
    const owner = await signIn(server, 'owner@demo.test');
    const { key } = await createKey(server, owner, 'Outage');
    const postLead = (email: string) =>
      api(server, '/api/v1/leads', { body: { firstName: 'Out', lastName: 'Age', email }, headers: { Authorization: `Bearer ${key}` } });
    t.is((await postLead('before@example.com')).status, 201);

    // A burst in flight while the database goes away.
    const burst = Array.from({ length: 40 }, (_, index) => postLead(`burst.${index}@example.com`));
    await sleep(5);
    await proxy.cut();
    const answers = await Promise.all(burst);
    const statuses = answers.map((answer) => answer.status);
    t.true(statuses.every((status) => status === 201 || status === 503), statuses.join(','));

    const down = await postLead('during@example.com');
    t.is(down.status, 503);
    t.is(down.headers.get('content-type'), 'application/problem+json');
    t.is(down.headers.get('retry-after'), '5');
    t.notRegex(JSON.stringify(down.body), /ECONNREFUSED|Connection terminated|stack|insert into/i);
    t.is((await api(server, '/readyz')).status, 503);
    t.is((await api(server, '/healthz')).status, 200, 'the process is alive');
    t.is((await api(server, '/api/v1/me', { token: owner })).status, 503);

    await proxy.restore();
    let ready = 503;
    for (let attempt = 0; attempt < 50 && ready !== 200; attempt += 1) {
      ready = (await api(server, '/readyz')).status;
      if (ready !== 200) await sleep(100);
    }
    t.is(ready, 200);
    t.is((await postLead('after@example.com')).status, 201, 'serves again');
    t.is((await api(server, '/api/v1/me', { token: owner })).status, 200, 'sessions and tokens survived');

    // Nothing acknowledged was lost: every 201 of the burst is in the database.
    const acknowledged = answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id as string);
    const stored = await server.db('members').whereIn('id', acknowledged).pluck('id');
    t.is(stored.length, acknowledged.length);
    t.is(await server.db('members').where({ email: 'during@example.com' }).first(), undefined);
  } finally {
    await close();
  }
});

test('a database connection reset (ECONNRESET) is a 503, never taken for a client that went away', async (t) => {
  const { server, proxy, close } = await serverBehindProxy(2);
  try {
    const { key } = await createKey(server, await signIn(server, 'owner@demo.test'), 'Reset');
    proxy.resetAll(true);
    for (const email of ['reset.1@example.com', 'reset.2@example.com']) {
      const response = await api(server, '/api/v1/leads', { body: { firstName: 'Re', lastName: 'Set', email }, headers: { Authorization: `Bearer ${key}` } });
      t.is(response.status, 503, email);
      t.is(response.headers.get('retry-after'), '5');
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
    proxy.resetAll(true);
    await sleep(200);
    proxy.resetAll(false);
    await t.throwsAsync(() => trx.raw('select 1'));
    await trx.rollback().catch(() => undefined);

    // The process is alive (an unhandled 'error' event would have ended it), and the pool connects afresh.
    t.is((await api(server, '/healthz')).status, 200);
    const lead = await api(server, '/api/v1/leads', { body: { firstName: 'He', lastName: 'Ld', email: 'held@example.com' }, headers: { Authorization: `Bearer ${key}` } });
    t.is(lead.status, 201);
  } finally {
    await close();
  }
});
