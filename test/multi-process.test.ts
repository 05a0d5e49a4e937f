import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';

import test from 'ava';

import { loadConfig } from '../src/config.js';
import { hashToken } from '../src/shared/token-hash.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { api, signIn, startLogin } from './helpers/oauth.js';
import { spawnServer, type ServerProcess } from './helpers/process.js';
import type { TestServer } from './helpers/server.js';

// Two real server processes on one Postgres, behind one public address (as
// behind a load balancer): they behave as one. The embedded database is for
// one process (process.test.ts shows a second one refused), so this suite
// always runs on Postgres.

let database: TestDatabase;
let first: ServerProcess;
let second: ServerProcess;
let publicServer: TestServer;
let owner: string;
const ROOT = path.resolve(import.meta.dirname, '../..');

test.before(async () => {
  database = await createTestDatabase('postgres');
  const seed = spawnSync(process.execPath, ['dist/src/cli.js', 'seed'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...database.env }, encoding: 'utf8' });
  if (seed.status !== 0) throw new Error(`seed failed: ${seed.stderr}`);
  // At debug, each process logs the total of a key's window it hears from the shared store.
  const shared = { ...database.env, SECRETS_KEY: 'multi-process-test-secrets-key-0001', TRUST_PROXY: 'true', LOG_LEVEL: 'debug' };
  first = await spawnServer(shared);
  second = await spawnServer({ ...shared, PUBLIC_URL: first.url });
  const config = loadConfig({ PUBLIC_URL: first.url, ...database.env });
  publicServer = { url: first.url, config } as TestServer;
  owner = await signIn(publicServer, 'owner@demo.test');
});
test.after.always('both drain on SIGTERM and exit 0', async () => {
  try {
    for (const server of [first, second]) server?.child.kill('SIGTERM');
    const codes = await Promise.all([first?.exited, second?.exited]);
    if (first && second && (codes[0] !== 0 || codes[1] !== 0 || ![first, second].every((server) => server.output.some((line) => line.includes('"msg":"stopped"'))))) {
      throw new Error(`a process did not drain and exit 0 on SIGTERM (exit codes ${codes.join(', ')})`);
    }
  } finally {
    await database?.drop();
  }
});

const on = (server: ServerProcess) => ({ url: server.url, config: publicServer.config }) as TestServer;
const lead = (server: ServerProcess, key: string, headers: Record<string, string> = {}) =>
  api(on(server), '/api/v1/leads', { body: { firstName: 'Two', lastName: 'Processes', email: `two.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}`, ...headers } });
const newKey = async (name: string, body: Record<string, unknown> = {}) => {
  const created = await api(on(first), '/api/v1/api-keys', { token: owner, body: { name, scopes: ['leads:create'], ...body } });
  if (created.status !== 201) throw new Error(`create answered ${created.status}`);
  return created.body as { id: string; key: string };
};

test('a sign-in on one process is valid on the other: its token, and its session cookie', async (t) => {
  const me = await api(on(second), '/api/v1/me', { token: owner });
  t.is(me.status, 200);
  t.is(me.body.email, 'owner@demo.test');
  // A browser signs in through the first process; a new authorization request at the second
  // reads that session from the shared database and answers with a code at once, no login page.
  const login = await startLogin(publicServer);
  await login.finish(await login.submit('owner@demo.test', 'demo-password'));
  const url = new URL(`${second.url}/oauth/auth`);
  url.search = new URLSearchParams({
    client_id: 'octiv-app',
    response_type: 'code',
    scope: 'openid profile admin',
    resource: publicServer.config.adminApiResource,
    redirect_uri: `${first.url}/console/callback`,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    state: 'across',
  }).toString();
  const answer = await login.browser.request(url);
  t.is(answer.status, 303);
  t.regex(answer.headers.get('location') ?? '', new RegExp(`^${first.url}/console/callback\\?code=`));
});

test('a key deleted through one process is refused by the other on the very next request', async (t) => {
  const { id, key } = await newKey('Deleted Across');
  t.is((await lead(second, key)).status, 201);
  t.is((await api(on(first), `/api/v1/api-keys/${id}`, { token: owner, method: 'DELETE' })).status, 204);
  t.is((await lead(second, key)).status, 401);
  t.deepEqual((await fetch(`${second.url}/oauth/token/introspection`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`leads-api:${publicServer.config.leadsApiClient.secret}`).toString('base64')}` },
    body: new URLSearchParams({ token: key }).toString(),
  }).then((response) => response.json())), { active: false });
});

test('rotated out on one process, expired in the database: the other refuses at once', async (t) => {
  const rotated = await newKey('Rotated Across');
  const next = await api(on(first), `/api/v1/api-keys/${rotated.id}/rotate`, { token: owner, body: { graceSeconds: 0 } });
  t.is(next.status, 201);
  t.is((await lead(second, rotated.key)).status, 401);
  t.is((await lead(second, next.body.key as string)).status, 201);

  const expiring = await newKey('Expired Across');
  t.is((await lead(second, expiring.key)).status, 201);
  const { default: knexFactory } = await import('knex');
  const db = knexFactory({ client: 'pg', connection: database.env.DATABASE_URL });
  try {
    await db('api_keys').where({ id: expiring.id }).update({ expires_at: db.raw(`now() - interval '1 second'`) });
    t.truthy(await db('api_key_secrets').where({ token_hash: hashToken(expiring.key) }).first());
  } finally {
    await db.destroy();
  }
  t.is((await lead(first, expiring.key)).status, 401);
  t.is((await lead(second, expiring.key)).status, 401);
});

test('limits are shared: sign-in failures and a key\'s window count across both processes', async (t) => {
  const ip = '198.51.100.7';
  const fail = async (server: ServerProcess) => {
    const login = await startLogin(publicServer);
    const action = new URL(`${login.loginPage.url.pathname}/login`, server.url);
    const response = await login.browser.request(action, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': ip },
      body: new URLSearchParams({ email: 'admin@demo.test', password: 'wrong-password-multi' }).toString(),
    });
    return response.status;
  };
  for (const server of [first, first, first, second, second]) t.is(await fail(server), 401);
  t.is(await fail(first), 429);
  t.is(await fail(second), 429);

  const { id, key } = await newKey('Shared Window', { rateLimit: { limit: 4, windowSeconds: 60 } });
  for (const server of [first, second, first, second]) t.is((await lead(server, key)).status, 201);
  // Each process sends its counts every 200 ms and reads the total back: wait until each says it
  // knows all four (its own two alone would let two more through).
  const knowsAll = new RegExp(`"keyId":"${id}","counted":4[,}]`);
  await Promise.all([first, second].map((server) => server.waitFor(knowsAll)));
  t.is((await lead(first, key)).status, 429);
  t.is((await lead(second, key)).status, 429);
});
