import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { loadConfig } from '../src/config.js';
import { createTestDatabase, TEST_DATABASE_KIND } from './helpers/database.js';
import { eventually } from './helpers/eventually.js';
import { api, signIn } from './helpers/oauth.js';
import { spawnServer, type ServerProcess } from './helpers/process.js';
import { startReceiver } from './helpers/receiver.js';
import { TEST_SECRETS_KEY, type TestServer } from './helpers/server.js';

// At least once, across a crash: a delivery pending when the server is
// killed (SIGKILL: no shutdown) is delivered by the server started after it,
// with the same webhook-id. On the suite's database kind.

test('kill -9 with a delivery pending, start again: it is delivered, with the same webhook-id', async (t) => {
  t.timeout(300_000);
  const startup = { startupTimeoutMs: 120_000 };
  let dataDir: string | undefined;
  const database = TEST_DATABASE_KIND === 'postgres' ? await createTestDatabase('postgres') : undefined;
  if (!database) dataDir = await mkdtemp(path.join(os.tmpdir(), 'octiv-webhook-durability-'));
  // The first attempt fails; the next one (3 s later, by the schedule) is the restarted server's.
  const env = { ...(database ? database.env : { DATA_DIR: dataDir! }), NODE_ENV: 'development', SECRETS_KEY: TEST_SECRETS_KEY, WEBHOOK_RETRY_SCHEDULE: '3' };
  const receiver = await startReceiver({ answer: (_request, attempt) => (attempt === 1 ? 500 : 200) });
  let server: ServerProcess | undefined;
  try {
    if (database) {
      // A Postgres test database starts empty: the first start migrates; the demo data is loaded by the command line.
      const { spawnSync } = await import('node:child_process');
      const seeded = spawnSync(process.execPath, ['dist/src/cli.js', 'seed'], { cwd: path.resolve(import.meta.dirname, '../..'), env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
      t.is(seeded.status, 0, seeded.stderr);
    }
    server = await spawnServer(env, startup);
    const at = (running: ServerProcess) => ({ url: running.url, config: loadConfig({ PUBLIC_URL: running.url }) }) as TestServer;
    const owner = await signIn(at(server), 'owner@demo.test');
    const key = (await api(at(server), '/api/v1/api-keys', { token: owner, body: { name: 'Durable hooks', scopes: ['leads:create'] } })).body.key as string;
    const made = await api(at(server), '/api/v1/webhook-endpoints', { token: owner, body: { url: receiver.url, events: ['lead.created'] } });
    t.is(made.status, 201);
    const lead = await api(at(server), '/api/v1/leads', { body: { firstName: 'Dur', lastName: 'Able', email: `hooks.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
    t.is(lead.status, 201);
    const eventId = `evt_${lead.body.id}`;
    // The first attempt has failed and is recorded: the delivery waits for its next time. Then the crash.
    await eventually(() => receiver.of(eventId).length === 1, { what: 'the first attempt', timeoutMs: 30_000 });
    await eventually(async () => {
      const log = await api(at(server!), `/api/v1/webhook-endpoints/${made.body.id}/deliveries`, { token: owner });
      return log.body.items.some((entry: { eventId: string; attempts: number; status: string }) => entry.eventId === eventId && entry.attempts === 1 && entry.status === 'pending');
    }, { what: 'the failed attempt recorded' });
    server.child.kill('SIGKILL');
    t.is(await server.exited, null, 'killed by the signal');

    server = await spawnServer(env, startup);
    await eventually(() => receiver.of(eventId).length >= 2, { what: 'the delivery after the restart', timeoutMs: 60_000 });
    const attempts = receiver.of(eventId);
    t.is(attempts.length, 2, 'once more, not twice');
    t.is(attempts[1]!.body, attempts[0]!.body, 'the same event');
    const log = await api(at(server), `/api/v1/webhook-endpoints/${made.body.id}/deliveries`, { token: await signIn(at(server), 'owner@demo.test') });
    t.like(log.body.items.find((entry: { eventId: string }) => entry.eventId === eventId), { status: 'succeeded', attempts: 2, responseStatus: 200 });
  } finally {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await receiver.close();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
});
