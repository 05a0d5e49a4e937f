import net from 'node:net';

import test from 'ava';

import { createTestDatabase } from './helpers/database.js';
import { eventually } from './helpers/eventually.js';
import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { logLine, startTestServer, type TestServer } from './helpers/server.js';
import { holdTableLock, type TableLock } from './helpers/table-lock.js';

let server: TestServer;
let key: string;

test.before(async () => {
  server = await startTestServer();
  ({ key } = await createKey(server, await signIn(server, 'owner@demo.test'), 'Flaky Network'));
});
test.after.always(async () => {
  await server?.close();
});

/** The server's access-log line of the request sent with this X-Request-Id. */
const accessLine = (target: TestServer, requestId: string) => logLine(target, { msg: 'request', clientRequestId: requestId });

/**
 * A lead request written by hand on a socket of its own, so that the test
 * decides when the client goes away: the head is sent (its Content-Length
 * that of `body`), the body is the caller's to `write`, whole or in part.
 */
async function rawLeadRequest(target: TestServer, apiKey: string, body: string, options: { requestId: string; idempotencyKey?: string; expectContinue?: boolean }) {
  const { port } = new URL(target.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString('utf8')));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const head = [
    'POST /api/v1/leads HTTP/1.1',
    'Host: 127.0.0.1',
    `Authorization: Bearer ${apiKey}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${options.requestId}`,
    ...(options.idempotencyKey ? [`Idempotency-Key: ${options.idempotencyKey}`] : []),
    ...(options.expectContinue ? ['Expect: 100-continue'] : []),
    '',
    '',
  ].join('\r\n');
  const write = (data: string) => new Promise<void>((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())));
  await write(head);
  return {
    socket,
    write,
    /** What the server sent so far. */
    received: () => received,
  };
}

test('a client that goes away mid-body: the server saw it go, wrote nothing, and carries on', async (t) => {
  const email = 'half.sent@example.com';
  const body = JSON.stringify({ firstName: 'Half', lastName: 'Sent', email });
  const request = await rawLeadRequest(server, key, body, { requestId: 'client-gone-mid-body', expectContinue: true });
  // "100 Continue" is the server's word that it has taken the request (headers read, handed to the app).
  await eventually(() => request.received().startsWith('HTTP/1.1 100 Continue'), { what: 'the server\'s 100 Continue' });
  await request.write(body.slice(0, 20));
  request.socket.destroy();

  const line = await accessLine(server, 'client-gone-mid-body');
  t.like(line, { method: 'POST', path: '/api/v1/leads', aborted: true }, 'the server logged the request, unfinished');
  t.is(await server.db('members').where({ email }).first(), undefined);
  t.is((await api(server, '/healthz')).status, 200);
  const next = await api(server, '/api/v1/leads', { body: { firstName: 'Next', lastName: 'One', email: 'next.one@example.com' }, headers: { Authorization: `Bearer ${key}` } });
  t.is(next.status, 201, 'the next request is served');
});

// Postgres, whatever TEST_DATABASE says: the lead is held inside the database (a lock another
// connection holds) until the client has gone, which only Postgres lets a test do and see.
test('the connection drops before the answer: the lead is written, and a retry with the same Idempotency-Key gets it, once', async (t) => {
  const database = await createTestDatabase('postgres');
  const target = await startTestServer({ database });
  let lock: TableLock | undefined;
  try {
    const { key: crmKey } = await createKey(target, await signIn(target, 'owner@demo.test'), 'Hiccups');
    const email = 'lost.answer@example.com';
    const body = JSON.stringify({ firstName: 'Lost', lastName: 'Answer', email });
    lock = await holdTableLock(database.env.DATABASE_URL!, 'members');
    const request = await rawLeadRequest(target, crmKey, body, { requestId: 'client-gone-lost-answer', idempotencyKey: 'crm-lead-77' });
    await request.write(body);
    // The lead is being written (its statement waits inside Postgres) when the CRM's network hiccups.
    await lock.waiters(1);
    request.socket.destroy();
    t.like(await accessLine(target, 'client-gone-lost-answer'), { method: 'POST', path: '/api/v1/leads', aborted: true }, 'the server saw the client go');
    await lock.release();
    const written = await eventually(() => target.db('members').where({ email }).first('id'), { what: 'the lead to be written' });
    t.is(request.received(), '', 'no answer reached the client');

    const retry = () => api(target, '/api/v1/leads', { body, headers: { Authorization: `Bearer ${crmKey}`, 'Idempotency-Key': 'crm-lead-77' } });
    const first = await retry();
    t.is(first.status, 201);
    t.is(first.headers.get('idempotent-replayed'), 'true', 'the answer the client missed, replayed');
    t.is(first.body.id, written.id);
    t.is(Number((await target.db('members').where({ email }).count('* as n').first())?.n), 1);
    const again = await retry();
    t.is(again.headers.get('idempotent-replayed'), 'true');
    t.is(again.body.id, written.id);
  } finally {
    await lock?.close();
    await target.close();
    await database.drop();
  }
});
