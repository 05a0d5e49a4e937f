import test from 'ava';

import { api, signIn, startLogin } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.close();
});

test('staff sign in with authorization code + PKCE through the login form (openid-client)', async (t) => {
  const login = await startLogin(server);
  t.is(login.loginPage.response.status, 200);
  t.regex(login.loginPage.url.pathname, /^\/oauth\/interaction\/[\w-]+$/);
  const html = await login.loginPage.response.text();
  t.regex(html, /<label for="email">Email<\/label>/);
  t.regex(html, /<label for="password">Password<\/label>/);
  const afterSubmit = await login.submit('owner@demo.test', 'demo-password');
  t.is(afterSubmit.status, 303);
  const tokens = await login.finish(afterSubmit);
  t.is(tokens.token_type.toLowerCase(), 'bearer');
  t.truthy(tokens.id_token);
  t.is(tokens.claims()?.sub, DEMO.demoFitness.staff[0].id);
  t.true(tokens.scope?.split(' ').includes('admin'));

  const me = await api(server, '/api/v1/me', { token: tokens.access_token });
  t.is(me.status, 200);
  t.deepEqual(me.body, {
    id: DEMO.demoFitness.staff[0].id,
    facilityId: DEMO.demoFitness.id,
    facilityName: 'Demo Fitness',
    name: 'Olivia Owner',
    email: 'owner@demo.test',
    role: 'owner',
    permissions: { systemIntegrations: true },
  });
});

test('a wrong password and an unknown email look exactly the same', async (t) => {
  const wrongPassword = await startLogin(server);
  const unknownEmail = await startLogin(server);
  const a = await wrongPassword.submit('owner@demo.test', 'not-the-password');
  const b = await unknownEmail.submit('nobody@demo.test', 'not-the-password');
  t.is(a.status, 401);
  t.is(b.status, 401);
  const [pageA, pageB] = await Promise.all([a.text(), b.text()]);
  const normalise = (page: string) => page.replace(/\/oauth\/interaction\/[\w-]+\/login/, 'ACTION').replace(/value="[^"]*"/, 'value=""');
  t.is(normalise(pageA), normalise(pageB));
  t.regex(pageA, /Invalid email or password\./);
  t.notRegex(pageA, /unknown|not found|wrong password/i);
  // The same form still works after a failure.
  const retry = await wrongPassword.finish(await wrongPassword.submit('owner@demo.test', 'demo-password'));
  t.truthy(retry.access_token);
});

test('control characters in the email (a NUL byte the database would refuse) are a failed sign-in, not a 500', async (t) => {
  const login = await startLogin(server);
  const response = await login.submit('owner@demo.test\u0000', 'demo-password');
  t.is(response.status, 401);
  t.regex(await response.text(), /Invalid email or password\./);
});

test('email is matched case-insensitively, password is not', async (t) => {
  t.truthy(await signIn(server, 'OWNER@Demo.Test'));
  const login = await startLogin(server);
  t.is((await login.submit('owner@demo.test', 'DEMO-PASSWORD')).status, 401);
});

test('an expired or forged interaction shows a clear page, not a crash', async (t) => {
  const response = await fetch(`${server.url}/oauth/interaction/not-a-real-uid`);
  t.is(response.status, 400);
  t.regex(await response.text(), /sign-in page has expired/);
});

test('the login page is not cacheable and cannot be framed', async (t) => {
  const login = await startLogin(server);
  const { headers } = login.loginPage.response;
  t.is(headers.get('cache-control'), 'no-store');
  t.regex(headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  t.is(headers.get('x-frame-options'), 'DENY');
});
