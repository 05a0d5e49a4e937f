import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';

import test from 'ava';
import { importJWK, SignJWT, type JWK } from 'jose';

import * as lookAlikeMigration from '../migrations/20261202100000_key_name_look_alikes.js';
import { seedDemo } from '../seeds/demo.js';
import { loadServerKeys } from '../src/oauth/server-keys.js';
import { createTestDatabase, openMigrated } from './helpers/database.js';
import { dumpDatabase } from './helpers/keys.js';
import type { Browser } from './helpers/browser.js';
import { api, startLogin } from './helpers/oauth.js';
import { DEMO, DEMO_PASSWORD, startTestServer, TEST_SECRETS_KEY, type TestServer } from './helpers/server.js';

// The findings of the second security review (issue 25), one regression test (or more) each.
// Serial: they count sign-ins, events and rows of one server, and sign in often (the password check queues only a few).

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

test.serial('finding 3: an absolute-form request target never puts its origin into a URL the server writes', async (t) => {
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

test.serial('finding 5: a sign-out link with another account\'s ID token asks, and the victim stays signed in', async (t) => {
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

test.serial('finding 5: an expired ID token of the same account asks too', async (t) => {
  const victim = await signedInBrowser('owner@demo.test');
  const now = Math.floor(Date.now() / 1000);
  const expired = await signedIdToken({ sub: DEMO.demoFitness.staff[0].id, iat: now - 7200, exp: now - 3600 });
  const { html } = await openSignOutLink(victim.browser, expired);
  t.regex(html, /Sign out of Octiv\?/);
  t.notRegex(html, /<script/);
  t.is((await api(server, '/api/v1/me', { token: victim.accessToken })).status, 200);
  t.true(await stillSignedIn(victim.browser));
});

test.serial('finding 5: the console\'s own fresh ID token signs out at once', async (t) => {
  const staff = await signedInBrowser('owner@demo.test');
  const { html } = await openSignOutLink(staff.browser, staff.idToken);
  t.regex(html, /Signing out/);
  t.is((await api(server, '/api/v1/me', { token: staff.accessToken })).status, 401, 'the access token stops working');
  t.false(await stillSignedIn(staff.browser), 'the next visit asks for a password');
});

/** A cursor as the audit list makes them: base64url of "<ISO time>|<event id>", here with any content. */
const cursorOf = (content: string) => Buffer.from(content, 'utf8').toString('base64url');

test.serial('finding 8: malformed cursors and filters of the audit list are 400 naming the parameter, never 500', async (t) => {
  const { accessToken: owner } = await signedInBrowser('owner@demo.test');
  const uuid = '3f0c9a52-6d1e-4b7a-9c2d-8e5f4a3b2c1d';
  const bad: [string, string][] = [
    // Cursors: nearly valid ids, dates out of any sane range, broken structure, bytes that are not text.
    ...[
      `2026-01-01T00:00:00.000Z|${uuid.replace('-4b7a', '4-b7a')}`,
      `2026-01-01T00:00:00.000Z|${uuid.replaceAll('-', '').padEnd(36, '-')}`,
      `2026-01-01T00:00:00.000Z|${'-'.repeat(36)}`,
      `2026-01-01T00:00:00.000Z|${uuid.slice(0, -1)}g`,
      `2026-01-01T00:00:00.000Z|{${uuid.slice(1, -1)}}`,
      `2026-01-01T00:00:00.000Z|${uuid}|extra`,
      `2026-01-01T00:00:00.000Z|${uuid}\u0000`,
      `+275760-09-13T00:00:00.000Z|${uuid}`,
      `-271821-04-20T00:00:00.000Z|${uuid}`,
      `0000-01-01T00:00:00.000Z|${uuid}`,
      `-000001-01-01T00:00:00.000Z|${uuid}`,
      `10000-01-01T00:00:00.000Z|${uuid}`,
      `2026-02-30T00:00:00.000Z|${uuid}`,
      `Infinity|${uuid}`,
      `0|${uuid}`,
      `1e20|${uuid}`,
      `|${uuid}`,
      `2026-01-01T00:00:00.000Z|`,
      `2026-01-01T00:00:00.000Z`,
      '',
    ].map((content) => ['cursor', cursorOf(content)] as [string, string]),
    ['cursor', Buffer.from([0xff, 0xfe, 0x7c, 0x00, 0xc3]).toString('base64url')],
    ['cursor', '!!not base64!!'],
    ['cursor', 'x'.repeat(500)],
    // Time filters: years Postgres or RFC 3339 do not have, days that do not exist, other formats.
    ...['0000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '10000-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01', '1767225600', 'now', '', '2026-01-01T24:00:01Z'].flatMap(
      (value) => [['since', value], ['until', value]] as [string, string][],
    ),
    // Ids: nearly valid, braced, too long, empty.
    ...[uuid.slice(0, -1), `${uuid}0`, `{${uuid}}`, uuid.replaceAll('-', ''), uuid.replace(/-/g, '_'), `${uuid.slice(0, 35)}\u0000`, ''].flatMap(
      (value) => [['keyId', value], ['actorId', value]] as [string, string][],
    ),
    ...['api_key.nope', '', 'API_KEY.CREATED', 'api_key.created\u0000'].map((value) => ['action', value] as [string, string]),
    ...['0', '-1', '201', '1.5', 'Infinity', 'NaN', '0x10', '', '1e9', '9'.repeat(400)].map((value) => ['limit', value] as [string, string]),
  ];
  // Every wrong answer at once: the parameter, the value, and what came back.
  const wrong: string[] = [];
  for (const [name, value] of bad) {
    const response = await api(server, `/api/v1/audit-events?${new URLSearchParams({ [name]: value })}`, { token: owner });
    const problem = /^application\/problem\+json/.test(response.headers.get('content-type') ?? '');
    const named = (response.body?.errors ?? []).some((error: { path: string }) => error.path === name);
    if (response.status !== 400 || !problem || !named) wrong.push(`${name}=${JSON.stringify(value).slice(0, 60)}: ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
  }
  t.deepEqual(wrong, []);
  // A parameter given twice is one too many.
  const twice = await api(server, `/api/v1/audit-events?since=2026-01-01T00:00:00Z&since=2026-01-02T00:00:00Z`, { token: owner });
  t.is(twice.status, 400);
  t.is(twice.body.errors[0].path, 'since');

  // Edges that are fine stay fine.
  for (const query of [
    { since: '0001-01-01T00:00:00Z', until: '9999-12-31T23:59:59.999Z' },
    { since: '2026-01-01T00:00:00+14:00' },
    { cursor: cursorOf(`9999-12-31T23:59:59.999Z|${uuid}`) },
    { cursor: cursorOf(`1970-01-01T00:00:00.000Z|${uuid.toUpperCase()}`) },
    { limit: '200', keyId: uuid, actorId: uuid, action: 'api_key.created' },
  ] as Record<string, string>[]) {
    const response = await api(server, `/api/v1/audit-events?${new URLSearchParams(query)}`, { token: owner });
    t.is(response.status, 200, JSON.stringify(query));
  }
  t.false(server.logs.some((line) => line.includes('"level":50')), 'no error was logged');
});

test.serial('finding 4: concurrent opposite permission changes: each change that happens has exactly one event, and the newest matches the final state', async (t) => {
  const { accessToken: owner } = await signedInBrowser('owner@demo.test');
  const member = DEMO.demoFitness.staff[2];
  const put = (systemIntegrations: boolean) => api(server, `/api/v1/staff/${member.id}/access`, { token: owner, method: 'PUT', body: { systemIntegrations } });
  const stateNow = async () => ((await server.db('staff').where({ id: member.id }).first('system_integrations')) as { system_integrations: boolean }).system_integrations;
  const eventsNow = (): Promise<{ id: string; action: string; occurred_at: Date }[]> =>
    server.db('audit_events').where({ target_id: member.id }).whereLike('action', 'staff.permission_%').select('id', 'action', 'occurred_at');
  const eventFor = (enabled: boolean) => (enabled ? 'staff.permission_granted' : 'staff.permission_revoked');

  const wrong: string[] = [];
  for (let pair = 0; pair < 30; pair += 1) {
    const before = await stateNow();
    const seen = new Set((await eventsNow()).map((event) => event.id));
    // Both at once, the one that would change the state first in half of the pairs.
    const answers = await Promise.all(pair % 2 ? [put(true), put(false)] : [put(false), put(true)]);
    if (answers.some((answer) => answer.status !== 200)) wrong.push(`pair ${pair}: ${answers.map((answer) => answer.status)}`);
    const after = await stateNow();
    const added = (await eventsNow()).filter((event) => !seen.has(event.id)).sort((a, b) => a.occurred_at.getTime() - b.occurred_at.getTime());
    // From `before`, one request changes the state; the other either changes it back (two changes) or finds it done (none).
    const expected = after === before ? [eventFor(!before), eventFor(before)] : [eventFor(after)];
    if (JSON.stringify(added.map((event) => event.action).sort()) !== JSON.stringify([...expected].sort())) {
      wrong.push(`pair ${pair}: ${before} -> ${after} wrote ${JSON.stringify(added.map((event) => event.action))}`);
    }
    // The newest event says the final state (two events in one millisecond are in no order the log can show: then either may be last).
    const newest = added.at(-1);
    const tied = added.length === 2 && added[0]!.occurred_at.getTime() === added[1]!.occurred_at.getTime();
    if (newest && !tied && newest.action !== eventFor(after)) wrong.push(`pair ${pair}: ends ${after}, newest event ${newest.action}`);
  }
  t.deepEqual(wrong, []);
});

test.serial('finding 10: the limit store keeps no bare hash of what was typed into the sign-in form, nor of the address', async (t) => {
  const typed = `correct horse battery staple ${Date.now()}`;
  const login = await startLogin(server);
  t.is((await login.submit(typed, 'a wrong password')).status, 401);
  const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
  const stored = JSON.stringify(await server.db('rate_limits').select('*'));
  for (const value of [typed, typed.toLowerCase(), '127.0.0.1', '::ffff:127.0.0.1']) {
    t.false(stored.includes(value), 'in clear');
    t.false(stored.includes(sha256(value)), 'as a bare SHA-256');
    t.false(stored.includes(createHash('sha256').update(value).digest('hex')), 'as a bare SHA-256 in hex');
  }
  // The failure is counted all the same (on Postgres, in its table; the embedded database counts in memory).
  if (server.database.kind === 'postgres') t.regex(stored, /"key":"signin-email:[\w-]{43}"/);
});

test.serial('finding 2: signing in again (prompt=login, max_age=0) or prompt=consent leaves no session id, cookie value or interaction uid in the database, and the sign-in works and is audited', async (t) => {
  const { browser } = await signedInBrowser('owner@demo.test');
  const sessionId = browser.cookie('_session');
  t.truthy(sessionId);
  const secrets = () => [...new Set([browser.cookie('_session'), browser.cookie('_interaction'), browser.cookie('_interaction_resume'), sessionId])].filter((value): value is string => Boolean(value));
  const leaks = async (when: string) => {
    const dump = await dumpDatabase(server);
    return secrets()
      .filter((secret) => dump.includes(secret))
      .map((secret) => `${when}: ${secret === sessionId || secret === browser.cookie('_session') ? 'a session id' : 'an interaction uid'} is stored`);
  };
  const signInEvents = async () => (await server.db('audit_events').where({ action: 'staff.signed_in', target_id: DEMO.demoFitness.staff[0].id }).count('* as n').first())!.n;

  const found: string[] = [];
  for (const parameters of [{ prompt: 'login' }, { max_age: '0' }] as Record<string, string>[]) {
    const label = JSON.stringify(parameters);
    let interactionStarted: string[] = [];
    const login = await startLogin(server, { browser, parameters, beforeFollow: async () => void (interactionStarted = await leaks(`${label}, interaction started`)) });
    found.push(...interactionStarted);
    t.regex(login.loginPage.url.pathname, /^\/oauth\/interaction\//, `${label}: the password is asked for again`);
    const eventsBefore = Number(await signInEvents());
    const afterSubmit = await login.submit('owner@demo.test', DEMO_PASSWORD);
    t.is(afterSubmit.status, 303);
    found.push(...(await leaks(`${label}, password accepted`)));
    const tokens = await login.finish(afterSubmit);
    found.push(...(await leaks(`${label}, signed in`)));
    t.is((await api(server, '/api/v1/me', { token: tokens.access_token })).status, 200, `${label}: the sign-in works end to end`);
    t.is(Number(await signInEvents()), eventsBefore + 1, `${label}: the sign-in is an audit event`);
  }

  // Signing in as another account in that browser: the provider first signs the old one out, through a
  // form whose secret and return address (the interaction's /oauth/auth/<uid>) wait in the session's state.
  const switching = await startLogin(server, { browser, parameters: { prompt: 'login' } });
  const switched = await browser.follow(await switching.submit('admin@demo.test', DEMO_PASSWORD), switching.loginPage.url);
  const page = await switched.response.text();
  found.push(...(await leaks('another account, signing the first out')));
  const confirm = /<form method="post" action="([^"]+)">/.exec(page)?.[1];
  const fields = Object.fromEntries([...page.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)"\/>/g)].map((match) => [match[1]!, match[2]!]));
  t.truthy(confirm, 'the sign-out form of the first account');
  t.truthy(fields.xsrf);
  const adminTokens = await switching.finish(await browser.postForm(confirm!, fields));
  t.is((await api(server, '/api/v1/me', { token: adminTokens.access_token })).body.email, 'admin@demo.test', 'signed in as the other account');
  found.push(...(await leaks('another account, signed in')));

  let consentStarted: string[] = [];
  const consent = await startLogin(server, { browser, parameters: { prompt: 'consent' }, beforeFollow: async () => void (consentStarted = await leaks('prompt=consent')) });
  found.push(...consentStarted);
  t.is(new URL(consent.loginPage.url).searchParams.get('error'), 'consent_required');
  t.deepEqual(found, []);
});

test.serial('finding 9: key names that look alike are one name: mixed scripts refused, whole-script look-alikes and case taken, in the database', async (t) => {
  const { accessToken: owner } = await signedInBrowser('owner@demo.test');
  const create = (name: string) => api(server, '/api/v1/api-keys', { token: owner, body: { name, scopes: ['leads:create'] } });
  t.is((await create('API Key')).status, 201);
  // Latin with Cyrillic, Greek or Cherokee look-alikes, in one word or beside it: refused as mixed scripts (UTS #39 moderately restrictive).
  for (const name of ['АРІ Key', 'ΑΡΙ Key', 'ᎪᏢᏆ Key', 'AРI Key', 'Dem\u043e Key']) {
    const response = await create(name);
    t.is(response.status, 400, name);
    t.is(response.body.errors[0].path, 'name');
    t.regex(response.body.errors[0].message, /must not mix Latin letters with Cyrillic or Greek ones/);
  }
  // In one script each, a look-alike or another case is the same name.
  for (const [name, taken] of [['АРІ КЕУ', 'API Key'], ['api key', 'API Key'], ['APl Key', 'API Key'], ['𝐀𝐏𝐈 Key', 'API Key']] as const) {
    const response = await create(name);
    t.is(response.status, 409, name);
    t.regex(response.body.detail, new RegExp(`already exists in this facility`));
    if (name.normalize('NFKC').toLowerCase() !== taken.toLowerCase()) t.true(response.body.detail.includes(`"${taken}", which looks the same`), response.body.detail);
  }
  // Other scripts, alone or with Latin where UTS #39 allows it, are fine.
  for (const name of ['Кафе Лидс', 'Café Déjà Vu', '東京オフィス Leads', 'Shalom שלום', 'Landing Page → CRM']) t.is((await create(name)).status, 201, name);

  // Look-alikes created at once (Latin "TOP KAMA", Cyrillic "ТОР КАМА", another case): the database lets one through.
  const results = await Promise.all(['TOP KAMA', 'ТОР КАМА', 'top kama', 'ТОР КАМА', 'Top Kama'].map(create));
  t.deepEqual(results.map((response) => response.status).sort(), [201, 409, 409, 409, 409], JSON.stringify(results.map((response) => response.body.detail)));

  // Deleting a key frees its name and its look-alikes.
  const listed = (await api(server, '/api/v1/api-keys', { token: owner })).body.items as { id: string; name: string }[];
  const apiKey = listed.find((key) => key.name === 'API Key')!;
  t.is((await api(server, `/api/v1/api-keys/${apiKey.id}`, { token: owner, method: 'DELETE' })).status, 204);
  t.is((await create('АРІ КЕУ')).status, 201);
});

test.serial('finding 9: the migration gives existing keys their look-alike key; look-alikes already live keep working, the oldest holds the name', async (t) => {
  const database = await createTestDatabase();
  const opened = await openMigrated(database);
  const db = opened.knex;
  try {
    await seedDemo(db, { password: DEMO_PASSWORD });
    await lookAlikeMigration.down(db);
    const facilityId = DEMO.demoFitness.id;
    const createdBy = DEMO.demoFitness.staff[0].id;
    const key = (name: string, minutes: number, deleted = false) => ({
      id: randomUUID(), facility_id: facilityId, name, scopes: ['leads:create'], created_by: createdBy,
      created_at: new Date(Date.now() - minutes * 60_000), deleted_at: deleted ? new Date() : null,
    });
    const [oldest, lookAlike, deleted, other] = [key('API Key', 30), key('АРІ Key', 20), key('ΑΡΙ Key', 40, true), key('Landing Page', 10)];
    await db('api_keys').insert([oldest, lookAlike, deleted, other]);
    await lookAlikeMigration.up(db);
    const skeletons = Object.fromEntries((await db('api_keys').select('id', 'name_skeleton')).map((row: { id: string; name_skeleton: string }) => [row.id, row.name_skeleton]));
    t.is(skeletons[oldest.id], 'apl key');
    t.is(skeletons[lookAlike.id], `apl key #${lookAlike.id}`);
    t.is(skeletons[deleted.id], 'apl key');
    t.is(skeletons[other.id], 'landlng page');
    // The index holds from now on, under the constraint name the service maps to 409.
    const error = await t.throwsAsync(db('api_keys').insert({ ...key('api key', 0), name_skeleton: 'apl key' }));
    t.regex(String(error?.message), /api_keys_live_name_unique/);
    await lookAlikeMigration.down(db);
    t.false((await db('information_schema.columns').where({ table_name: 'api_keys' }).pluck('column_name')).includes('name_skeleton'));
  } finally {
    await opened.close();
    await database.drop();
  }
});
