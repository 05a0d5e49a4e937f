import http from 'node:http';

import test from 'ava';
import * as client from 'openid-client';

import { createApp } from '../src/app.js';
import { createServices } from '../src/services.js';
import { createLogger } from '../src/logger.js';
import { loadServerKeys } from '../src/oauth/server-keys.js';
import { api, discover, startLogin } from './helpers/oauth.js';
import { captureLines, startTestServer, TEST_SECRETS_KEY, type TestServer } from './helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.close();
});

async function dumpDatabase(): Promise<string> {
  const tables = ['oidc_payloads', 'server_keys', 'staff', 'facilities', 'locations'];
  const rows = await Promise.all(tables.map((table) => server.db(table).select('*')));
  return JSON.stringify(rows);
}

test('access tokens and authorization codes are never stored in clear', async (t) => {
  const login = await startLogin(server);
  const afterSubmit = await login.submit('owner@demo.test', 'demo-password');
  // Catch the code on its way to the callback.
  const { url: callback } = await login.browser.follow(afterSubmit, server.url, `${server.url}/console/callback`);
  const code = callback.searchParams.get('code');
  t.truthy(code);
  t.false((await dumpDatabase()).includes(code!), 'the authorization code is not in the database');

  const rows = await server.db('oidc_payloads').where({ model: 'AuthorizationCode' });
  t.true(rows.length > 0, 'the code is stored (as its hash)');
  t.true(rows.every((row) => /^[0-9a-f]{64}$/.test(row.id)));
  t.true(rows.every((row) => row.payload.jti === undefined));
});

test('a signed-in access token is stored only as its hash', async (t) => {
  const login = await startLogin(server);
  const tokens = await login.finish(await login.submit('admin@demo.test', 'demo-password'));
  const dump = await dumpDatabase();
  t.false(dump.includes(tokens.access_token));
  const { createHash } = await import('node:crypto');
  t.true(dump.includes(createHash('sha256').update(tokens.access_token).digest('hex')));
});

test('the signing and cookie keys are generated once and kept (sealed: only the secrets key opens them)', async (t) => {
  const first = await loadServerKeys(server.db, { secretsKey: TEST_SECRETS_KEY });
  const second = await loadServerKeys(server.db, { secretsKey: TEST_SECRETS_KEY });
  await t.throwsAsync(loadServerKeys(server.db), { message: /encrypted: set SECRETS_KEY/ });
  await t.throwsAsync(loadServerKeys(server.db, { secretsKey: 'another-secrets-key-of-32-characters!' }), { message: /not the key they were sealed with/ });
  t.deepEqual(second, first);
  t.is(first.jwks.keys.length, 1);
  t.truthy(first.jwks.keys[0]?.d, 'a private signing key');
  t.is((await server.db('server_keys').count('* as n').first())?.n, 2);
});

test('keys given by the environment take precedence', async (t) => {
  const cookieKeys = ['k'.repeat(40)];
  const keys = await loadServerKeys(server.db, { cookieKeys, secretsKey: TEST_SECRETS_KEY });
  t.deepEqual(keys.cookieKeys, cookieKeys);
});

test('a restart keeps signing keys, sessions and tokens valid', async (t) => {
  const login = await startLogin(server);
  const tokens = await login.finish(await login.submit('owner@demo.test', 'demo-password'));
  const jwksBefore = (await api(server, '/oauth/jwks')).body;

  // A second process on the same database: a new provider and app built from scratch.
  const logs: string[] = [];
  const restarted = await createServices(server.config, server.services.database, createLogger('info', captureLines(logs)), { role: 'server' });
  const other = http.createServer(createApp(restarted).callback());
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
  try {
    t.deepEqual(await (await fetch(`${base}/oauth/jwks`)).json(), jwksBefore);
    const me = await fetch(`${base}/api/v1/me`, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    t.is(me.status, 200);
    // The ID token issued before the restart still verifies against the keys served after it.
    const jwks = (await (await fetch(`${base}/oauth/jwks`)).json()) as { keys: { kid: string }[] };
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { kid: string };
    t.true(jwks.keys.some((key) => key.kid === header.kid));
    // The browser session cookie is still accepted: a new authorization skips the login form.
    const configuration = await discover(server);
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: `${server.url}/console/callback`,
      scope: 'openid profile admin',
      resource: server.config.adminApiResource,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'again',
    });
    const resumed = new URL(url.href.replace(server.url, base));
    const first = await login.browser.request(resumed);
    t.is(first.status, 303);
    t.true(first.headers.get('location')?.startsWith(`${server.url}/console/callback?code=`));
  } finally {
    other.closeAllConnections();
    other.close();
    await restarted.stop();
  }
});

test('introspection: only the leads-api client, with its secret, and only for Leads API tokens', async (t) => {
  const login = await startLogin(server);
  const tokens = await login.finish(await login.submit('owner@demo.test', 'demo-password'));
  const introspect = (auth: string | undefined, token: string) =>
    fetch(`${server.url}/oauth/token/introspection`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(auth ? { Authorization: auth } : {}) },
      body: new URLSearchParams({ token }).toString(),
    });
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  const leadsApi = basic('leads-api', server.config.leadsApiClient.secret);

  // A staff token is for the admin API, not for the leads API: the leads API learns nothing.
  t.deepEqual(await (await introspect(leadsApi, tokens.access_token)).json(), { active: false });
  t.is((await introspect(basic('leads-api', 'wrong-secret'), tokens.access_token)).status, 401);
  t.is((await introspect(undefined, tokens.access_token)).status, 400);
});
