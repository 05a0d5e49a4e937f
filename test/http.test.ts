import http from 'node:http';
import type { AddressInfo } from 'node:net';

import test from 'ava';

import { createApp } from '../src/app.js';
import { createDatabase } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';
import { loadServerKeys } from '../src/oauth/server-keys.js';
import { createServices } from '../src/services.js';
import { api } from './helpers/oauth.js';
import { captureLines, logLine, startTestServer, TEST_SECRETS_KEY, type TestServer } from './helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.close();
});

test('/healthz answers 200 while the process runs; /readyz 200 when the database answers', async (t) => {
  t.like(await api(server, '/healthz'), { status: 200, body: { status: 'ok' } });
  t.like(await api(server, '/readyz'), { status: 200, body: { status: 'ready' } });
});

test('an unknown route is a problem+json 404 with the request id in header and body', async (t) => {
  const response = await api(server, '/api/v1/nothing-here');
  t.is(response.status, 404);
  t.is(response.headers.get('content-type'), 'application/problem+json');
  const requestId = response.headers.get('x-request-id');
  t.truthy(requestId);
  t.deepEqual(response.body, {
    type: `${server.url}/problems/not-found`,
    title: 'Not found',
    status: 404,
    detail: 'No resource at this address.',
    requestId,
  });
  t.is((await api(server, '/api/v1')).status, 404);
});

test('a wrong method on a known route is a problem+json 405', async (t) => {
  const response = await api(server, '/api/v1/me', { method: 'DELETE' });
  t.is(response.status, 405);
  t.is(response.headers.get('content-type'), 'application/problem+json');
  t.like(response.body, { status: 405, title: 'Method Not Allowed', type: `${server.url}/problems/method-not-allowed` });
});

test('every request gets an id of ours; a caller\'s well-formed X-Request-Id is only logged beside it', async (t) => {
  const kept = await api(server, '/healthz', { headers: { 'X-Request-Id': 'crm-retry-42' } });
  t.regex(kept.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  t.like(await logLine(server, { msg: 'request', clientRequestId: 'crm-retry-42' }), { requestId: kept.headers.get('x-request-id') });
  const replaced = await api(server, '/healthz', { headers: { 'X-Request-Id': 'bad id <script>' } });
  t.regex(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  t.false('clientRequestId' in (await logLine(server, { msg: 'request', requestId: replaced.headers.get('x-request-id') })), 'a malformed one is not logged');
});

test('every response carries the security headers', async (t) => {
  for (const path of ['/healthz', '/api/v1/me', '/oauth/.well-known/openid-configuration', '/nope']) {
    const { headers } = await api(server, path);
    t.is(headers.get('x-content-type-options'), 'nosniff', path);
    t.is(headers.get('x-frame-options'), 'DENY', path);
    t.is(headers.get('referrer-policy'), 'no-referrer', path);
    t.truthy(headers.get('x-request-id'), path);
  }
});

test('discovery: issuer under /oauth, code flow with S256 only, introspection and revocation on', async (t) => {
  const { body } = await api(server, '/oauth/.well-known/openid-configuration');
  t.is(body.issuer, `${server.url}/oauth`);
  t.deepEqual(body.response_types_supported, ['code']);
  t.deepEqual(body.code_challenge_methods_supported, ['S256']);
  t.is(body.introspection_endpoint, `${server.url}/oauth/token/introspection`);
  t.is(body.revocation_endpoint, `${server.url}/oauth/token/revocation`);
  t.false(body.scopes_supported.includes('admin'), 'resource scopes stay out of the OpenID scopes');
});

/** GET /oauth/auth for the console client, without PKCE unless `params` add it; redirects are not followed. */
function authorizationRequest(params: Record<string, string> = {}) {
  const url = new URL(`${server.url}/oauth/auth`);
  url.search = new URLSearchParams({
    client_id: 'octiv-app',
    response_type: 'code',
    scope: 'openid',
    redirect_uri: `${server.url}/console/callback`,
    state: 's',
    ...params,
  }).toString();
  return fetch(url, { redirect: 'manual' });
}

test('an authorization request without PKCE is refused', async (t) => {
  const response = await authorizationRequest();
  const location = new URL(response.headers.get('location') ?? '');
  t.is(location.searchParams.get('error'), 'invalid_request');
  t.regex(location.searchParams.get('error_description') ?? '', /PKCE/);
});

test('NUL bytes in OAuth request parameters never cause a 500', async (t) => {
  const authorize = (overrides: Record<string, string>) =>
    authorizationRequest({ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...overrides });
  const withState = await authorize({ state: 'a\u0000b' });
  t.is(withState.status, 303, 'the sign-in goes on (the NUL is stored as U+FFFD)');
  t.regex(withState.headers.get('location') ?? '', /\/oauth\/interaction\//);
  const withClient = await authorize({ client_id: 'octiv-app\u0000' });
  t.true(withClient.status < 500, String(withClient.status));
  const introspection = await fetch(`${server.url}/oauth/token/introspection`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${server.config.leadsApiClient.id}:${server.config.leadsApiClient.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: 'a\u0000b' }).toString(),
  });
  t.is(introspection.status, 200);
  t.deepEqual(await introspection.json(), { active: false });
});

test('with the database unreachable: /readyz 503, API 503 problem+json, /healthz still 200', async (t) => {
  const logs: string[] = [];
  const logger = createLogger('info', captureLines(logs));
  const unreachable = await createDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', poolMax: 1 }, { logger });
  const serverKeys = await loadServerKeys(server.db, { secretsKey: TEST_SECRETS_KEY });
  const services = await createServices(server.config, unreachable, logger, { role: 'server', serverKeys });
  const app = createApp(services);
  const broken = http.createServer(app.callback());
  await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
  try {
    t.is((await fetch(`${base}/healthz`)).status, 200);
    t.is((await fetch(`${base}/readyz`)).status, 503);
    // The admin API's token check needs the database: a clean 503, not a crash.
    const me = await fetch(`${base}/api/v1/me`, { headers: { Authorization: 'Bearer some-opaque-token' } });
    t.is(me.status, 503);
    t.is(me.headers.get('content-type'), 'application/problem+json');
    t.is(me.headers.get('retry-after'), '5');
    const body = await me.text();
    t.notRegex(body, /ECONNREFUSED|stack|select /i);
    t.true(logs.some((line) => line.includes('"status":503')), 'the failure is logged');
  } finally {
    broken.closeAllConnections();
    await services.stop();
    broken.close();
    await unreachable.close();
  }
});

test('the console is served at /console with a strict CSP; / leads there', async (t) => {
  const root = await fetch(`${server.url}/`, { redirect: 'manual' });
  t.is(root.status, 302);
  t.is(root.headers.get('location'), '/console/');
  for (const path of ['/console/', '/console/callback', '/console/settings/system-integrations']) {
    const page = await fetch(`${server.url}${path}`);
    t.is(page.status, 200, path);
    t.regex(await page.text(), /<script type="module" src="\/console\/assets\/app.js">/);
    const csp = page.headers.get('content-security-policy') ?? '';
    t.regex(csp, /script-src 'self'/);
    t.regex(csp, /frame-ancestors 'none'/);
    t.notRegex(csp, /unsafe-inline|unsafe-eval/);
  }
  const script = await fetch(`${server.url}/console/assets/app.js`);
  t.is(script.status, 200);
  t.regex(script.headers.get('content-type') ?? '', /javascript/);
  t.is((await fetch(`${server.url}/console/assets/other.js`)).status, 404);
});
