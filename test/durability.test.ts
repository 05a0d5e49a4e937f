import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { loadConfig } from '../src/config.js';
import { api, signIn } from './helpers/oauth.js';
import { spawnServer, type ServerProcess } from './helpers/process.js';
import type { TestServer } from './helpers/server.js';

// The embedded default keeps what it acknowledged: leads answered 201 are
// there after the server is killed (SIGKILL: no shutdown, no flush) and
// started again on the same data folder. Always the embedded database: this
// is its promise, whatever the suite's database.

test('a lead acknowledged with 201 survives kill -9 and a restart of the embedded server', async (t) => {
  // Creating a new embedded database takes a while, longer with the other suites running beside this one.
  t.timeout(300_000);
  const startup = { startupTimeoutMs: 120_000 };
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'octiv-durability-'));
  const env = { DATA_DIR: dataDir, NODE_ENV: 'development' };
  let server: ServerProcess | undefined;
  try {
    server = await spawnServer(env, startup);
    const config = loadConfig({ PUBLIC_URL: server.url });
    const at = (running: ServerProcess) => ({ url: running.url, config }) as TestServer;
    const owner = await signIn(at(server), 'owner@demo.test');
    const made = await api(at(server), '/api/v1/api-keys', { token: owner, body: { name: 'Durable CRM', scopes: ['leads:create'] } });
    t.is(made.status, 201);
    const key = made.body.key as string;
    const send = (running: ServerProcess, email: string, headers: Record<string, string> = {}) =>
      api(at(running), '/api/v1/leads', { body: { firstName: 'Durable', lastName: 'Lead', email }, headers: { Authorization: `Bearer ${key}`, ...headers } });

    // Twenty leads at once, one of them with an Idempotency-Key; then SIGKILL the moment the last 201 is in.
    const idempotencyKey = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => send(server!, `durable.${index}.${randomUUID()}@example.com`, index === 0 ? { 'Idempotency-Key': idempotencyKey } : {})),
    );
    server.child.kill('SIGKILL');
    t.is(await server.exited, null, 'killed by the signal, not exited');
    t.deepEqual(
      answers.map((answer) => answer.status),
      Array.from({ length: 20 }, () => 201),
    );
    const acknowledged = answers.map((answer) => answer.body as { id: string; email: string });

    // The same folder again: the dead process's lock is taken over, and every acknowledged lead is there.
    server = await spawnServer(env, startup);
    const ready = await fetch(`${server.url}/readyz`);
    t.is(ready.status, 200);
    for (const lead of acknowledged) {
      const found = await api(at(server), `/api/v1/leads/${lead.id}`, { headers: { Authorization: `Bearer ${key}` } });
      t.is(found.status, 200, `lead ${lead.id} after the restart`);
      t.is(found.body.email, lead.email);
    }
    // The Idempotency-Key's record survived with its lead: a retry is a replay of the same lead, not a second one.
    const retry = await send(server, acknowledged[0]!.email, { 'Idempotency-Key': idempotencyKey });
    t.is(retry.status, 201);
    t.is(retry.body.id, acknowledged[0]!.id);
    t.is(retry.headers.get('idempotent-replayed'), 'true');
  } finally {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await rm(dataDir, { recursive: true, force: true });
  }
});
