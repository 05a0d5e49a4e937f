import http from 'node:http';

import test from 'ava';
import { importJWK, SignJWT, type JWK } from 'jose';

import { loadServerKeys } from '../src/oauth/server-keys.js';
import type { Browser } from './helpers/browser.js';
import { api, startLogin } from './helpers/oauth.js';
import { DEMO, DEMO_PASSWORD, startTestServer, TEST_SECRETS_KEY, type TestServer } from './helpers/server.js';

// The findings of the second security review (issue 25), one regression test (or more) each.

let server: TestServer;

test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.close();
});

/** A request whose target is in absolute form (`GET http://host/path HTTP/1.1`), as curl --request-target sends it. */
function absoluteFormRequest(target: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const request = http.request({ hostname, port, method: 'GET', path: target, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end();
  });
}

test('finding 3: an absolute-form request target never puts its origin into a URL the server writes', async (t) => {
  const discovery = await absoluteFormRequest('http://evil.test/oauth/.well-known/openid-configuration');
  t.is(discovery.status, 200);
  t.notRegex(discovery.body, /evil\.test/);
  const body = JSON.parse(discovery.body) as Record<string, unknown>;
  t.is(body.authorization_endpoint, `${server.url}/oauth/auth`);
  t.is(body.token_endpoint, `${server.url}/oauth/token`);
  t.is(body.jwks_uri, `${server.url}/oauth/jwks`);
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string' && /^https?:/.test(value)) t.true(value.startsWith(`${server.url}/`), `${name}: ${value}`);
  }

  // The sign-out page's form, with and without a Host header that agrees with the target.
  for (const headers of [{}, { Host: 'evil.test' }] as Record<string, string>[]) {
    const logout = await absoluteFormRequest('http://evil.test/oauth/session/end', headers);
    t.is(logout.status, 200);
    t.notRegex(logout.body, /evil\.test/);
    t.regex(logout.body, new RegExp(`action="${server.url}/oauth/session/end/confirm"`));
  }

  // Our own routes answer too, and the path of an absolute-form target still routes as usual.
  const health = await absoluteFormRequest(`https://evil.test:8443/healthz?x=1`);
  t.is(health.status, 200);
  const problem = await absoluteFormRequest('http://evil.test/api/v1/api-keys');
  t.is(problem.status, 401);
  t.notRegex(problem.body, /evil\.test/);
});

/** Signs in through the login form in a browser of its own; the browser keeps the session cookie. */
async function signedInBrowser(email: string) {
  const login = await startLogin(server);
  const tokens = await login.finish(await login.submit(email, DEMO_PASSWORD));
  return { browser: login.browser, accessToken: tokens.access_token, idToken: tokens.id_token! };
}

/** Whether the browser's session is still signed in: a new authorization goes straight to the callback, with no login form. */
async function stillSignedIn(browser: Browser): Promise<boolean> {
  const login = await startLogin(server, { browser }).catch(() => undefined);
  return login === undefined || !login.loginPage.url.pathname.startsWith('/oauth/interaction/');
}

/**
 * Opens the sign-out link in the browser and does what a browser would: when
 * the page submits its form by itself (its script), submit it; a page that
 * asks is left alone, as a person who did not mean to sign out would.
 */
async function openSignOutLink(browser: Browser, idTokenHint: string): Promise<{ html: string }> {
  const url = `${server.url}/oauth/session/end?${new URLSearchParams({ client_id: 'octiv-app', id_token_hint: idTokenHint, post_logout_redirect_uri: `${server.url}/console/` })}`;
  const html = await (await browser.request(url)).text();
  if (/<script[^>]*>[\s\S]*\.submit\(\)/.test(html)) {
    const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(html)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    await browser.postForm(action!, { xsrf: xsrf!, logout: 'yes' });
  }
  return { html };
}

/** An ID token as this server signs them, with the claims given (to make one that has expired). */
async function signedIdToken(claims: { sub: string; iat: number; exp: number }): Promise<string> {
  const { jwks } = await loadServerKeys(server.db, { secretsKey: TEST_SECRETS_KEY });
  const jwk = jwks.keys[0] as JWK;
  return new SignJWT({ sid: 'x' })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid! })
    .setIssuer(server.config.issuer)
    .setAudience('octiv-app')
    .setSubject(claims.sub)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .sign(await importJWK(jwk, 'RS256'));
}

test('finding 5: a sign-out link with another account\'s ID token asks, and the victim stays signed in', async (t) => {
  const victim = await signedInBrowser('owner@demo.test');
  const attacker = await signedInBrowser('owner@other.test');
  const { html } = await openSignOutLink(victim.browser, attacker.idToken);
  t.regex(html, /Sign out of Octiv\?/);
  t.notRegex(html, /<script/);
  t.is((await api(server, '/api/v1/me', { token: victim.accessToken })).status, 200, 'the victim\'s access token still works');
  t.true(await stillSignedIn(victim.browser), 'the victim\'s session is still there');

  // The page's form cannot be submitted for the victim: it needs the secret the page carries, tied to the session.
  const forged = await victim.browser.postForm(`${server.url}/oauth/session/end/confirm`, { logout: 'yes' });
  t.is(forged.status, 400);
  const guessed = await victim.browser.postForm(`${server.url}/oauth/session/end/confirm`, { logout: 'yes', xsrf: 'a'.repeat(48) });
  t.is(guessed.status, 400);
  t.is((await api(server, '/api/v1/me', { token: victim.accessToken })).status, 200);
});

test('finding 5: an expired ID token of the same account asks too', async (t) => {
  const victim = await signedInBrowser('owner@demo.test');
  const now = Math.floor(Date.now() / 1000);
  const expired = await signedIdToken({ sub: DEMO.demoFitness.staff[0].id, iat: now - 7200, exp: now - 3600 });
  const { html } = await openSignOutLink(victim.browser, expired);
  t.regex(html, /Sign out of Octiv\?/);
  t.notRegex(html, /<script/);
  t.is((await api(server, '/api/v1/me', { token: victim.accessToken })).status, 200);
  t.true(await stillSignedIn(victim.browser));
});

test('finding 5: the console\'s own fresh ID token signs out at once', async (t) => {
  const staff = await signedInBrowser('owner@demo.test');
  const { html } = await openSignOutLink(staff.browser, staff.idToken);
  t.regex(html, /Signing out/);
  t.is((await api(server, '/api/v1/me', { token: staff.accessToken })).status, 401, 'the access token stops working');
  t.false(await stillSignedIn(staff.browser), 'the next visit asks for a password');
});
