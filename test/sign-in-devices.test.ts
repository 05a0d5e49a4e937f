import { randomUUID } from 'node:crypto';

import test from 'ava';

import { DEMO } from '../seeds/demo.js';
import { AppError } from '../src/http/errors.js';
import { createPasswordGate } from '../src/staff/password-gate.js';
import { hashPassword } from '../src/staff/passwords.js';
import { createStaffStore } from '../src/staff/store.js';
import { DEVICE_COOKIE, DEVICE_MAX_AGE_SECONDS, passwordTag, vouchesFor } from '../src/staff/trusted-device.js';
import { Browser } from './helpers/browser.js';
import { eventually } from './helpers/eventually.js';
import { startLogin, type LoginStart } from './helpers/oauth.js';
import { DEMO_PASSWORD, startTestServer, type TestServer } from './helpers/server.js';

// Device cookies: a browser that signed in to an account before is limited
// per device and per account, and its password check is served first. Each
// test comes from its own addresses (X-Forwarded-For, behind TRUST_PROXY)
// and uses its own accounts, so the tests' limits never meet.

let server: TestServer;

test.before(async () => {
  server = await startTestServer({ env: { TRUST_PROXY: 'true' } });
});
test.after.always(async () => {
  await server?.close();
});

let nextAddress = 10;
const address = () => `198.51.100.${(nextAddress += 1)}`;

/** A new staff member of the demo facility, with the demo password: an account of the test's own. */
async function newAccount(): Promise<{ id: string; email: string }> {
  const email = `device.${randomUUID()}@demo.test`;
  const member = await createStaffStore(server.db).insert({
    id: randomUUID(),
    facilityId: DEMO.demoFitness.id,
    name: 'Dee Vice',
    email,
    role: 'admin',
    passwordHash: await hashPassword(DEMO_PASSWORD),
  });
  return { id: member.id, email };
}

/** Posts a started login's form from an address. */
async function post(login: LoginStart, email: string, password: string, ip = address()): Promise<number> {
  const response = await login.browser.request(new URL(`${login.loginPage.url.pathname}/login`, server.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': ip },
    body: new URLSearchParams({ email, password }).toString(),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Signs in through the form in `browser` (its cookies, device cookie included) or a new one: the form's status. */
async function tryPassword(email: string, password: string, options: { browser?: Browser } = {}): Promise<number> {
  return post(await startLogin(server, options.browser ? { browser: options.browser } : {}), email, password);
}

/** A browser that has signed in to `email` once (and so holds its device cookie). */
async function trustedBrowser(t: { is: (actual: unknown, expected: unknown, message?: string) => void }, email: string): Promise<Browser> {
  const browser = new Browser();
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser }), 303);
  return browser;
}

test.serial('under a flood of guesses for fresh emails from fresh addresses, a trusted device\'s password check is served first', async (t) => {
  t.timeout(60_000, 'a flood on a busy CI machine');
  const { email } = await newAccount();
  const browser = await trustedBrowser(t, email);
  let flooding = true;
  const statuses: number[] = [];
  let guess = 0;
  const flood = Array.from({ length: 30 }, async () => {
    while (flooding) {
      const n = (guess += 1);
      const login = await startLogin(server);
      statuses.push(await post(login, `guess${n}@example.com`, 'wrong-password', `192.0.2.${(n % 250) + 1}`));
    }
  });
  try {
    // Once the flood has filled the shared queue, the staff member opens the form and signs in.
    await eventually(() => statuses.includes(503), { timeoutMs: 30_000, what: 'the flood to fill the shared queue (a 503)' });
    const login = await startLogin(server, { browser });
    t.is(await post(login, email, DEMO_PASSWORD), 303, 'the trusted device signed in, not turned away with the flood');
  } finally {
    flooding = false;
    await Promise.all(flood);
  }
  t.true(statuses.filter((status) => status === 503).length > 0, 'the shared queue was full');
  t.true(statuses.every((status) => status === 401 || status === 503), `the flood got ${[...new Set(statuses)].join(', ')}`);
});

test('the password gate serves trusted devices first and refuses past its queues at once', async (t) => {
  const gate = createPasswordGate({ concurrent: 1, queue: 2 });
  let release!: () => void;
  const running = gate(() => new Promise<void>((resolve) => (release = resolve)));
  const order: string[] = [];
  const queued = [gate(async () => void order.push('first guess')), gate(async () => void order.push('second guess'))];
  const refused = await t.throwsAsync(gate(async () => undefined), { instanceOf: AppError });
  t.is(refused?.status, 503);
  t.is(refused?.headers['Retry-After'], '2');
  const trusted = gate(async () => void order.push('trusted'), { priority: true });
  release();
  await Promise.all([running, ...queued, trusted]);
  t.deepEqual(order, ['trusted', 'first guess', 'second guess']);
});

test('a device cookie vouches only for its account, for 90 days, under the password it was issued with', (t) => {
  const account = { id: randomUUID(), passwordHash: 'scrypt$one' };
  const issuedAt = Math.floor(Date.now() / 1000);
  const device = { staffId: account.id, issuedAt, passwordTag: passwordTag(account.passwordHash), value: 'v' };
  t.true(vouchesFor(device, account));
  t.false(vouchesFor(device, { ...account, id: randomUUID() }), 'another account');
  t.false(vouchesFor(device, { ...account, passwordHash: 'scrypt$two' }), 'a new password');
  t.false(vouchesFor(device, account, (issuedAt + DEVICE_MAX_AGE_SECONDS + 1) * 1000), 'past 90 days');
  t.false(vouchesFor(undefined, account));
});

test('a browser that signed in before keeps signing in while others spend the account\'s tries; its cookie counts for that account only', async (t) => {
  const { email } = await newAccount();
  const other = await newAccount();
  const browser = await trustedBrowser(t, email);
  const cookie = browser.cookie(DEVICE_COOKIE);
  t.truthy(cookie, 'a sign-in leaves a device cookie');
  t.false(cookie!.includes(DEMO_PASSWORD));

  for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword(email, 'wrong-password'), 401);
  t.is(await tryPassword(email, DEMO_PASSWORD), 429, 'a new browser: the email has spent its tries');
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser }), 303, 'the browser that signed in before still signs in');
  t.not(browser.cookie(DEVICE_COOKIE), cookie, 'each sign-in gets a fresh device cookie');

  // The cookie names its account: for another one it is a browser like any other.
  for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword(other.email, 'wrong-password'), 401);
  t.is(await tryPassword(other.email, DEMO_PASSWORD, { browser }), 429);

  // A copied value without the signature, or with a made-up one, is no device cookie.
  const forged = new Browser();
  forged.setCookie(DEVICE_COOKIE, browser.cookie(DEVICE_COOKIE)!, '/oauth/interaction');
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser: forged }), 429);
  forged.setCookie(`${DEVICE_COOKIE}.sig`, 'made-up-signature', '/oauth/interaction');
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser: forged }), 429);
});

test('from a trusted device, failures count against that device: five, then 429 there, and the email is not locked by them', async (t) => {
  const { email } = await newAccount();
  const browser = await trustedBrowser(t, email);
  for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword(email, 'wrong-password', { browser }), 401);
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser }), 429, 'the device has spent its tries');
  t.is(await tryPassword(email, DEMO_PASSWORD), 303, 'another browser is held back by nothing the device did');
});

test('however many trusted devices an account has, together they may fail 20 times in 15 minutes', async (t) => {
  const { email } = await newAccount();
  const browsers: Browser[] = [];
  for (let index = 0; index < 5; index += 1) browsers.push(await trustedBrowser(t, email));
  for (const browser of browsers.slice(0, 4)) {
    for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword(email, 'wrong-password', { browser }), 401);
  }
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser: browsers[4]! }), 429, 'a fifth device, with tries of its own left, is refused too');
  t.is(await tryPassword(email, DEMO_PASSWORD), 303, 'the email itself was never locked');
});

test('a burst of tries sent at once from a trusted device cannot pass its limit', async (t) => {
  const { email } = await newAccount();
  const browser = await trustedBrowser(t, email);
  // Nine browsers holding the same device cookie (one per login, so their logins' own cookies never mix).
  const copies = Array.from({ length: 9 }, () => {
    const copy = new Browser();
    for (const name of [DEVICE_COOKIE, `${DEVICE_COOKIE}.sig`]) copy.setCookie(name, browser.cookie(name)!, '/oauth/interaction');
    return copy;
  });
  const logins = await Promise.all(copies.map((copy) => startLogin(server, { browser: copy })));
  const statuses = await Promise.all(logins.map((login) => post(login, email, 'wrong-password')));
  t.is(statuses.filter((status) => status === 401).length, 5, `five checked, the rest refused (${statuses.join(', ')})`);
  t.true(statuses.every((status) => status === 401 || status === 429));
});

test('a new password ends the trust of every device that signed in with the old one', async (t) => {
  const { id, email } = await newAccount();
  const browser = await trustedBrowser(t, email);
  await server.db('staff').where({ id }).update({ password_hash: await hashPassword(DEMO_PASSWORD) });
  for (let attempt = 0; attempt < 5; attempt += 1) t.is(await tryPassword(email, 'wrong-password'), 401);
  t.is(await tryPassword(email, DEMO_PASSWORD, { browser }), 429, 'the old device cookie is a browser like any other now');
});
