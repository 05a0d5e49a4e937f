import test from 'ava';

import { DEVICE_COOKIE } from '../src/staff/trusted-device.js';
import { Browser } from './helpers/browser.js';
import { startLogin } from './helpers/oauth.js';
import { DEMO_PASSWORD, startTestServer, type TestServer } from './helpers/server.js';

// Device cookies: a browser that signed in to an account before is limited
// per device, and checks its password in a lane of its own. Each test comes
// from its own addresses (X-Forwarded-For, behind TRUST_PROXY) and uses its
// own account, so the tests' limits never meet.

let server: TestServer;

test.before(async () => {
  server = await startTestServer({ env: { TRUST_PROXY: 'true' } });
});
test.after.always(async () => {
  await server?.close();
});

let nextAddress = 10;
const address = () => `198.51.100.${(nextAddress += 1)}`;

/** Posts the sign-in form from an address, in `browser` (its cookies, device cookie included) or a new one. */
async function tryPassword(email: string, password: string, options: { browser?: Browser; ip?: string } = {}) {
  const login = await startLogin(server, options.browser ? { browser: options.browser } : {});
  const action = new URL(`${login.loginPage.url.pathname}/login`, server.url);
  const response = await login.browser.request(action, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': options.ip ?? address() },
    body: new URLSearchParams({ email, password }).toString(),
  });
  await response.arrayBuffer();
  return response.status;
}

/** A browser that has signed in to `email` once (and so holds its device cookie). */
async function trustedBrowser(t: { is: (actual: unknown, expected: unknown, message?: string) => void }, email: string): Promise<Browser> {
  const browser = new Browser();
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser }), 303);
  return browser;
}

test('a browser that signed in before keeps signing in while others spend the account\'s tries; its cookie counts for that account only', async (t) => {
  const browser = await trustedBrowser(t, 'admin@demo.test');
  const cookie = browser.cookie(DEVICE_COOKIE);
  t.truthy(cookie, 'a sign-in leaves a device cookie');
  t.false(cookie!.includes(DEMO_PASSWORD));

  for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword('admin@demo.test', 'wrong-password'), 401);
  t.is(await tryPassword('admin@demo.test', DEMO_PASSWORD), 429, 'a new browser: the email has spent its tries');
  t.is(await tryPassword('admin@demo.test', DEMO_PASSWORD, { browser }), 303, 'the browser that signed in before still signs in');
  t.not(browser.cookie(DEVICE_COOKIE), cookie, 'each sign-in gets a fresh device cookie');

  // The cookie names its account: for another one it is a browser like any other.
  for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword('trainer@demo.test', 'wrong-password'), 401);
  t.is(await tryPassword('trainer@demo.test', DEMO_PASSWORD, { browser }), 429);

  // A copied value without the signature, or with a made-up one, is no device cookie.
  const forged = new Browser();
  forged.setCookie(DEVICE_COOKIE, browser.cookie(DEVICE_COOKIE)!, '/oauth/interaction');
  t.is(await tryPassword('admin@demo.test', DEMO_PASSWORD, { browser: forged }), 429);
  forged.setCookie(`${DEVICE_COOKIE}.sig`, 'made-up-signature', '/oauth/interaction');
  t.is(await tryPassword('admin@demo.test', DEMO_PASSWORD, { browser: forged }), 429);
});

test('from a trusted device, failures count against that device: five, then 429 there, and the email is not locked by them', async (t) => {
  const browser = await trustedBrowser(t, 'location.admin@demo.test');
  for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword('location.admin@demo.test', 'wrong-password', { browser }), 401);
  t.is(await tryPassword('location.admin@demo.test', DEMO_PASSWORD, { browser }), 429, 'the device has spent its tries');
  t.is(await tryPassword('location.admin@demo.test', DEMO_PASSWORD), 303, 'another browser is held back by nothing the device did');
});

test.serial('under a flood of guesses for fresh emails from fresh addresses, a trusted device checks its password in its own lane', async (t) => {
  const browser = await trustedBrowser(t, 'owner@demo.test');
  // Every guess at the login form first, then all posted at once: more than the shared lane holds.
  const guesses = await Promise.all(Array.from({ length: 40 }, () => startLogin(server)));
  const flood = guesses.map((login, index) =>
    login.browser
      .request(new URL(`${login.loginPage.url.pathname}/login`, server.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': `192.0.2.${index + 1}` },
        body: new URLSearchParams({ email: `guess${index}@example.com`, password: 'wrong-password' }).toString(),
      })
      .then(async (response) => {
        await response.arrayBuffer();
        return response.status;
      }),
  );
  const honest = tryPassword('owner@demo.test', DEMO_PASSWORD, { browser });
  const statuses = await Promise.all(flood);
  t.true(statuses.includes(503), `the shared lane was full (the flood got ${statuses.join(', ')})`);
  t.true(statuses.every((status) => status === 401 || status === 503));
  t.is(await honest, 303, 'the trusted device signed in, not turned away with the flood');
});
