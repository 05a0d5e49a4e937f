import http from 'node:http';

import test from 'ava';

import { createKey, dumpDatabase } from './helpers/keys.js';
import { api, signIn, startLogin } from './helpers/oauth.js';
import { DEMO_PASSWORD, startTestServer, TEST_SECRETS_KEY, type TestServer } from './helpers/server.js';

// The findings of the security review, one regression test each.

let server: TestServer;
let owner: string;

test.before(async () => {
  server = await startTestServer();
  owner = await signIn(server, 'owner@demo.test');
});
test.after.always(async () => {
  await server?.close();
});

test('unusual methods get 405 or 501 on every path, never a 500 nor an error log', async (t) => {
  const paths = ['/healthz', '/api/v1/leads', '/api/v1/api-keys', '/console/', '/oauth/token', '/oauth/.well-known/openid-configuration', '/nowhere'];
  // Node's own client sends any method (fetch refuses TRACE).
  const send = (method: string, path: string) =>
    new Promise<number>((resolve, reject) => {
      const request = http.request(`${server.url}${path}`, { method }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end();
    });
  for (const method of ['TRACE', 'PROPFIND', 'SEARCH', 'QUERY', 'PATCH', 'MKCOL']) {
    for (const path of paths) {
      const status = await send(method, path);
      t.true([404, 405, 501].includes(status), `${method} ${path}: ${status}`);
    }
  }
  t.false(server.logs.some((line) => line.includes('"level":"error"')), 'nothing at error level');
});

test('a read-only copy of the database holds no usable credential: no cookie key, no signing key, no session or interaction id, no token', async (t) => {
  const login = await startLogin(server);
  const tokens = await login.finish(await login.submit('owner@demo.test', DEMO_PASSWORD));
  const cookies = login.browser
    .cookieHeader(new URL(`${server.url}/oauth/x`))
    .split('; ')
    .map((pair) => pair.slice(pair.indexOf('=') + 1))
    .filter((value) => value.length >= 16);
  t.true(cookies.length >= 1, 'the sign-in left a session cookie');
  const { key } = await createKey(server, tokens.access_token, 'Copied Database');
  const dump = await dumpDatabase(server);
  const provider = server.provider as unknown as { keys: string[] };
  for (const cookieKey of provider.keys) t.false(dump.includes(cookieKey), 'a cookie-signing key');
  const jwks = (await server.db('server_keys').select('material')).map((row: { material: unknown }) => JSON.stringify(row.material));
  t.true(jwks.length > 0, 'the server keys are stored');
  t.true(jwks.every((material) => material.includes('"sealed":"A256GCM"')), 'stored keys are sealed');
  t.notRegex(dump, /"d":"/, 'no private JWK');
  for (const cookie of cookies) t.false(dump.includes(cookie.split('.')[0]!), 'a cookie value (session or interaction id)');
  for (const secret of [key, tokens.access_token, tokens.id_token ?? 'none', DEMO_PASSWORD, TEST_SECRETS_KEY]) t.false(dump.includes(secret));
  // The session is there, under the hash of its id.
  t.true((await server.db('oidc_payloads').where({ model: 'Session' }).count('* as n').first())!.n as number >= 1);
});

test('sign-out asks first unless the console asks with its ID token; every /oauth page has a CSP', async (t) => {
  const login = await startLogin(server);
  const tokens = await login.finish(await login.submit('owner@demo.test', DEMO_PASSWORD));
  // A link from anywhere: a confirmation page, nothing submitted by itself.
  const bare = await login.browser.request(`${server.url}/oauth/session/end`);
  t.is(bare.status, 200);
  const bareHtml = await bare.text();
  t.regex(bareHtml, /Sign out of Octiv\?/);
  t.regex(bareHtml, /Stay signed in/);
  t.notRegex(bareHtml, /<script/);
  t.regex(bare.headers.get('content-security-policy') ?? '', /default-src 'none'.*script-src 'nonce-/);
  // The console, with the ID token it holds: signed out at once (the page submits itself, its script allowed by the nonce).
  const hinted = await login.browser.request(
    `${server.url}/oauth/session/end?${new URLSearchParams({ client_id: 'octiv-app', id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${server.url}/console/` })}`,
  );
  const hintedHtml = await hinted.text();
  const nonce = /script-src 'nonce-([^']+)'/.exec(hinted.headers.get('content-security-policy') ?? '')?.[1];
  t.truthy(nonce);
  t.true(hintedHtml.includes(`<script nonce="${nonce}">`));
  const loginPage = await login.browser.request((await startLogin(server)).loginPage.url);
  t.regex(loginPage.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
});

test('look-alike key names: invisible, direction and unusual-space characters refused; NFKC and collapsed spaces before uniqueness', async (t) => {
  const create = (name: string) => api(server, '/api/v1/api-keys', { token: owner, body: { name, scopes: ['leads:create'] } });
  for (const [name, rule] of [
    ['Demo\u200bKey', /invisible/],
    ['Demo\u202eKey', /invisible/],
    ['Demo\u00a0Key', /ordinary spaces/],
    ['Demo\u3000Key', /ordinary spaces/],
    ['Demo\u2028Key', /separators/],
    [`Demo${'\u0301'.repeat(60)}`, /combining marks/],
    ['Dem\u043e Key', /Cyrillic or Greek/],
  ] as const) {
    const response = await create(name);
    t.is(response.status, 400, JSON.stringify(name));
    t.is(response.body.errors[0].path, 'name');
    t.regex(response.body.errors[0].message, rule);
  }
  t.is((await create('Look Alike')).status, 201);
  const fullwidth = await create('Ｌｏｏｋ  Alike');
  t.is(fullwidth.status, 409, 'fullwidth letters and a double space name the same key');
  const spaced = await create('  Tidy   Name  ');
  t.is(spaced.body.name, 'Tidy Name');
  t.is((await create('Кафе Лидс')).status, 201, 'a name in Cyrillic alone is fine');
  t.is((await create('Café Déjà Vu')).status, 201, 'accents are fine');
});

test('discovery and the logout form use PUBLIC_URL whatever the Host header says, and discovery may be cached', async (t) => {
  const response = await fetch(`${server.url}/oauth/.well-known/openid-configuration`, { headers: { Host: 'evil.example' } });
  const text = await response.text();
  t.notRegex(text, /evil\.example/);
  const body = JSON.parse(text) as Record<string, string>;
  t.is(body.token_endpoint, `${server.url}/oauth/token`);
  t.is(body.introspection_endpoint, `${server.url}/oauth/token/introspection`);
  t.is(body.jwks_uri, `${server.url}/oauth/jwks`);
  t.regex(response.headers.get('cache-control') ?? '', /max-age=300/);
  const logout = await fetch(`${server.url}/oauth/session/end`, { headers: { Host: 'evil.example' } });
  t.notRegex(await logout.text(), /evil\.example/);
});

test('smaller findings: client_secret_post refused for leads-api; our own request ids; an API key at /oauth/me reads like an unknown token; prompt=consent returns to the client', async (t) => {
  const { key } = await createKey(server, owner, 'Smaller Findings');
  const post = await fetch(`${server.url}/oauth/token/introspection`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: key, client_id: 'leads-api', client_secret: server.config.leadsApiClient.secret }).toString(),
  });
  t.is(post.status, 401, 'leads-api authenticates by HTTP Basic, as registered');

  const chosen = await api(server, '/healthz', { headers: { 'X-Request-Id': 'caller-chosen-id' } });
  t.not(chosen.headers.get('x-request-id'), 'caller-chosen-id');
  const line = server.logs.find((entry) => entry.includes('"clientRequestId":"caller-chosen-id"'));
  t.truthy(line, 'the caller\'s id is logged beside ours');
  t.is(JSON.parse(line!).requestId, chosen.headers.get('x-request-id'));

  const asKey = await fetch(`${server.url}/oauth/me`, { headers: { Authorization: `Bearer ${key}` } });
  const unknown = await fetch(`${server.url}/oauth/me`, { headers: { Authorization: 'Bearer oct_pat_unknownunknownunknownunknownunknownunknownunknownun' } });
  t.is(asKey.status, 401);
  t.is(asKey.status, unknown.status);
  t.is(asKey.headers.get('www-authenticate'), unknown.headers.get('www-authenticate'));

  const login = await startLogin(server);
  await login.finish(await login.submit('owner@demo.test', DEMO_PASSWORD));
  const url = new URL(`${server.url}/oauth/auth`);
  url.search = new URLSearchParams({
    client_id: 'octiv-app',
    response_type: 'code',
    scope: 'openid',
    redirect_uri: `${server.url}/console/callback`,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    prompt: 'consent',
    state: 'consent-check',
  }).toString();
  const { url: landed } = await login.browser.follow(await login.browser.request(url), url, `${server.url}/console/callback`);
  t.true(landed.href.startsWith(`${server.url}/console/callback`), landed.href);
  t.is(landed.searchParams.get('error'), 'consent_required');
  t.is(landed.searchParams.get('state'), 'consent-check');
});
