import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import test from 'ava';

import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let key: string;

test.before(async () => {
  server = await startTestServer();
  ({ key } = await createKey(server, await signIn(server, 'owner@demo.test'), 'Flaky Network'));
});
test.after.always(async () => {
  await server?.close();
});

function rawLeadRequest(body: string, options: { idempotencyKey?: string; sendBytes?: number }) {
  const { port } = new URL(server.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  const head = [
    'POST /api/v1/leads HTTP/1.1',
    'Host: 127.0.0.1',
    `Authorization: Bearer ${key}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(options.idempotencyKey ? [`Idempotency-Key: ${options.idempotencyKey}`] : []),
    '',
    '',
  ].join('\r\n');
  socket.on('error', () => undefined);
  socket.write(head + body.slice(0, options.sendBytes ?? body.length));
  return socket;
}

test('a client that goes away mid-body: nothing is written, the server carries on', async (t) => {
  const email = 'half.sent@example.com';
  const socket = rawLeadRequest(JSON.stringify({ firstName: 'Half', lastName: 'Sent', email }), { sendBytes: 20 });
  await sleep(100);
  socket.destroy();
  await sleep(200);
  t.is(await server.db('members').where({ email }).first(), undefined);
  t.is((await api(server, '/healthz')).status, 200);
  const next = await api(server, '/api/v1/leads', { body: { firstName: 'Next', lastName: 'One', email: 'next.one@example.com' }, headers: { Authorization: `Bearer ${key}` } });
  t.is(next.status, 201);
});

test('the connection drops before the answer: a retry with the same Idempotency-Key makes no second lead', async (t) => {
  const email = 'lost.answer@example.com';
  const body = JSON.stringify({ firstName: 'Lost', lastName: 'Answer', email });
  const socket = rawLeadRequest(body, { idempotencyKey: 'crm-lead-77' });
  socket.destroy(); // the CRM's network hiccups right after sending
  await sleep(300);
  let retry = await api(server, '/api/v1/leads', { body, headers: { Authorization: `Bearer ${key}`, 'Idempotency-Key': 'crm-lead-77' } });
  for (let attempt = 0; attempt < 20 && retry.status === 409; attempt += 1) {
    await sleep(100); // the first attempt may still be finishing
    retry = await api(server, '/api/v1/leads', { body, headers: { Authorization: `Bearer ${key}`, 'Idempotency-Key': 'crm-lead-77' } });
  }
  t.is(retry.status, 201);
  t.is(Number((await server.db('members').where({ email }).count('* as n').first())?.n), 1);
  const again = await api(server, '/api/v1/leads', { body, headers: { Authorization: `Bearer ${key}`, 'Idempotency-Key': 'crm-lead-77' } });
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(again.body.id, retry.body.id);
});
