import { randomUUID } from 'node:crypto';

import test from 'ava';

import { generateKey } from '../src/api-keys/key-format.js';
import { TEST_DATABASE_KIND } from './helpers/database.js';
import { createKey } from './helpers/keys.js';
import { api, signIn, startLogin } from './helpers/oauth.js';
import { DEMO_PASSWORD, startTestServer, type TestServer } from './helpers/server.js';

// Each test comes from its own client address (X-Forwarded-For, behind
// TRUST_PROXY), so the per-address limits of one test never touch another.

let server: TestServer;
let owner: string;

test.before(async () => {
  server = await startTestServer({ env: { TRUST_PROXY: 'true' } });
  owner = await signIn(server, 'owner@demo.test');
});
test.after.always(async () => {
  await server?.close();
});

let nextAddress = 10;
const address = () => `203.0.113.${(nextAddress += 1)}`;
const from = (ip: string) => ({ 'X-Forwarded-For': ip });

/**
 * Posts the sign-in form to `target` from an address; resolves to the
 * response. The sign-in starts on the public address (the first server), as
 * it would behind a load balancer, and the form may land on any process.
 */
async function tryPassword(target: TestServer, email: string, password: string, ip: string, publicServer = target.config.publicUrl === server.config.publicUrl ? server : target) {
  const login = await startLogin(publicServer);
  const action = new URL(`${login.loginPage.url.pathname}/login`, target.url);
  const response = await login.browser.request(action, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...from(ip) },
    body: new URLSearchParams({ email, password }).toString(),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() };
}

const lead = (target: TestServer, key: string, headers: Record<string, string> = {}) =>
  api(target, '/api/v1/leads', { body: { firstName: 'Rate', lastName: 'Limit', email: `rate.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}`, ...headers } });

test('sign-in: after 5 failures an email gets 429 for the window, even with the right password, and the page never tells whether it exists', async (t) => {
  const ip = address();
  for (let attempt = 0; attempt < 5; attempt += 1) t.is((await tryPassword(server, 'admin@demo.test', 'wrong-password-1', ip)).status, 401);
  const blocked = await tryPassword(server, 'admin@demo.test', DEMO_PASSWORD, address());
  t.is(blocked.status, 429, 'from another address too, whatever the password');
  t.true(Number(blocked.retryAfter) > 0);
  t.regex(blocked.text, /Too many failed sign-ins\. Try again in \d+ minutes?\./);
  // An email that is nobody's behaves exactly the same.
  for (let attempt = 0; attempt < 5; attempt += 1) t.is((await tryPassword(server, 'nobody@demo.test', 'wrong-password-1', ip)).status, 401);
  const unknown = await tryPassword(server, 'nobody@demo.test', 'wrong-password-1', address());
  t.is(unknown.status, 429);
  const sentence = (text: string) => /<p class="error"[^>]*>([^<]*)<\/p>/.exec(text)?.[1]?.replace(/\d+ minutes?/, 'N minutes');
  t.is(sentence(unknown.text), sentence(blocked.text), 'the same words for an account and for nobody');
  t.notRegex(unknown.text, /exist|unknown|not found/i);
  // Another email is not held back by those.
  t.is((await tryPassword(server, 'location.admin@demo.test', DEMO_PASSWORD, address())).status, 303);
});

test('sign-in: one address may fail 50 times in 15 minutes', async (t) => {
  const ip = address();
  for (let attempt = 0; attempt < 50; attempt += 1) {
    t.is((await tryPassword(server, `guess${attempt}@demo.test`, 'wrong-password-2', ip)).status, 401);
  }
  t.is((await tryPassword(server, 'trainer@demo.test', DEMO_PASSWORD, ip)).status, 429);
  t.is((await tryPassword(server, 'trainer@demo.test', DEMO_PASSWORD, address())).status, 303, 'another address signs in');
});

test('Leads API: the key\'s own limit, with RateLimit headers on every answer and 429 with Retry-After past it', async (t) => {
  const created = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Limited CRM', scopes: ['leads:create'], rateLimit: { limit: 3, windowSeconds: 60 } } });
  const key = created.body.key as string;
  const answers = [];
  for (let index = 0; index < 4; index += 1) answers.push(await lead(server, key, from(address())));
  t.deepEqual(answers.map((answer) => answer.status), [201, 201, 201, 429]);
  for (const answer of answers) t.is(answer.headers.get('ratelimit-policy'), '"key";q=3;w=60');
  t.deepEqual(answers.map((answer) => /r=(\d+)/.exec(answer.headers.get('ratelimit') ?? '')?.[1]), ['2', '1', '0', '0']);
  t.true(Number(answers[3]!.headers.get('retry-after')) > 0);
  t.is(answers[3]!.headers.get('content-type'), 'application/problem+json');
  t.regex(answers[3]!.body.detail, /3 requests per 60 seconds/);
  const invalid = await api(server, '/api/v1/leads', { body: { firstName: '' }, headers: { Authorization: `Bearer ${key}` } });
  t.is(invalid.status, 429, 'the limit comes before the body is read');
  // Another key of the facility has its own window (the facility default, 600 a minute).
  const other = await createKey(server, owner, 'Unlimited Neighbour');
  const fine = await lead(server, other.key);
  t.is(fine.status, 201);
  t.is(fine.headers.get('ratelimit-policy'), '"key";q=600;w=60');
});

test('Leads API: 100 refused keys a minute from one address, then 429 for that address', async (t) => {
  const ip = address();
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const refused = await lead(server, generateKey(), from(ip));
    t.is(refused.status, 401);
    if (attempt === 0) t.regex(refused.headers.get('ratelimit-policy') ?? '', /^"failed-key-checks";q=100;w=60$/);
  }
  const blocked = await lead(server, generateKey(), from(ip));
  t.is(blocked.status, 429);
  t.true(Number(blocked.headers.get('retry-after')) > 0);
  const good = await createKey(server, owner, 'From A Blocked Address');
  t.is((await lead(server, good.key, from(ip))).status, 429, 'the address is held back whatever it sends');
  t.is((await lead(server, good.key, from(address()))).status, 201);
});

test('introspection and the token endpoint: 100 failed client authentications a minute from one address, then 429', async (t) => {
  const ip = address();
  const introspect = (secret: string) =>
    fetch(`${server.url}/oauth/token/introspection`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`leads-api:${secret}`).toString('base64')}`, ...from(ip) },
      body: 'token=x',
    });
  for (let attempt = 0; attempt < 60; attempt += 1) t.is((await introspect('wrong-secret')).status, 401);
  const token = (code: string) =>
    fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...from(ip) },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'octiv-app', code, code_verifier: 'x'.repeat(43), redirect_uri: `${server.url}/console/callback` }).toString(),
    });
  for (let attempt = 0; attempt < 40; attempt += 1) t.is((await token(`bad-code-${attempt}`)).status, 400);
  const blocked = await introspect(server.config.leadsApiClient.secret);
  t.is(blocked.status, 429, 'even with the right secret, from that address');
  t.true(Number(blocked.headers.get('retry-after')) > 0);
  t.is((await token('another-bad-code')).status, 429);
});

test('limits are shared by every process on one database', async (t) => {
  const second = await startTestServer({ share: server, env: { TRUST_PROXY: 'true', PUBLIC_URL: server.url } });
  try {
    const ip = address();
    for (let attempt = 0; attempt < 3; attempt += 1) t.is((await tryPassword(server, 'owner@other.test', 'wrong-password-3', ip)).status, 401);
    for (let attempt = 0; attempt < 2; attempt += 1) t.is((await tryPassword(second, 'owner@other.test', 'wrong-password-3', ip)).status, 401);
    const created = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Shared Window', scopes: ['leads:create'], rateLimit: { limit: 4, windowSeconds: 60 } } });
    const key = created.body.key as string;
    t.is((await lead(server, key)).status, 201);
    t.is((await lead(server, key)).status, 201);
    t.is((await lead(second, key)).status, 201);
    t.is((await lead(second, key)).status, 201);
    await Promise.all([server.flushLimits(), second.flushLimits()]);
    await Promise.all([server.flushLimits(), second.flushLimits()]);
    if (TEST_DATABASE_KIND === 'embedded') {
      // The embedded database is for one process: limits count in memory, per process.
      t.log('embedded database: limits are per process by design (memory store)');
      t.is((await tryPassword(second, 'owner@other.test', DEMO_PASSWORD, address())).status, 303);
      return;
    }
    t.is((await tryPassword(second, 'owner@other.test', DEMO_PASSWORD, address())).status, 429, 'the 6th sign-in, on the other process');
    t.is((await lead(server, key)).status, 429, 'the 5th lead of a 4-per-minute key, counted across both');
    t.is((await lead(second, key)).status, 429);
  } finally {
    await second.close();
  }
});

test('Redis as the store: shared too, and when it is down limits count per process, never an outage', async (t) => {
  const redisUrl = 'redis://127.0.0.1:6379';
  const probe = await fetch('http://127.0.0.1:6379').then(
    () => true,
    (error: { cause?: { code?: string } }) => error.cause?.code !== 'ECONNREFUSED',
  );
  if (!probe) {
    t.fail(`this test needs Redis at ${redisUrl} (it runs on these machines; start it with redis-server)`);
    return;
  }
  const first = await startTestServer({ env: { REDIS_URL: redisUrl, TRUST_PROXY: 'true' } });
  const second = await startTestServer({ share: first, env: { REDIS_URL: redisUrl, TRUST_PROXY: 'true', PUBLIC_URL: first.url } });
  const down = await startTestServer({ share: first, env: { REDIS_URL: 'redis://127.0.0.1:1', TRUST_PROXY: 'true', PUBLIC_URL: first.url } });
  try {
    t.true(first.logs.some((line) => line.includes('"store":"redis"')));
    const email = `nobody.${randomUUID().slice(0, 8)}@demo.test`;
    for (let attempt = 0; attempt < 3; attempt += 1) t.is((await tryPassword(first, email, 'wrong-password-4', address())).status, 401);
    for (let attempt = 0; attempt < 2; attempt += 1) t.is((await tryPassword(second, email, 'wrong-password-4', address(), first)).status, 401);
    t.is((await tryPassword(first, email, 'wrong-password-4', address())).status, 429, 'counted across both through Redis');

    // The store is unreachable: sign-in is still limited (in this process), and the Leads API still answers.
    for (let attempt = 0; attempt < 5; attempt += 1) t.is((await tryPassword(down, 'admin@demo.test', 'wrong-password-5', address(), first)).status, 401);
    t.is((await tryPassword(down, 'admin@demo.test', DEMO_PASSWORD, address(), first)).status, 429, 'fail-soft: counted in this process');
    const { key } = await createKey(first, await signIn(first, 'owner@demo.test'), 'Through A Redis Outage');
    t.is((await lead(down, key)).status, 201, 'a limit store outage never stops leads');
    await down.flushLimits();
    t.is((await lead(down, key)).status, 201);
    t.true(down.logs.some((line) => line.includes('rate-limit store')), 'the outage is logged');
  } finally {
    await down.close();
    await second.close();
    await first.close();
  }
});

test('RATE_LIMITS=off: no limits and no headers (for measuring their cost)', async (t) => {
  const plain = await startTestServer({ env: { RATE_LIMITS: 'off' } });
  try {
    const created = await api(plain, '/api/v1/api-keys', {
      token: await signIn(plain, 'owner@demo.test'),
      body: { name: 'No Limits', scopes: ['leads:create'], rateLimit: { limit: 1, windowSeconds: 60 } },
    });
    for (let index = 0; index < 3; index += 1) {
      const response = await lead(plain, created.body.key as string);
      t.is(response.status, 201);
      t.is(response.headers.get('ratelimit-policy'), null);
    }
  } finally {
    await plain.close();
  }
});
