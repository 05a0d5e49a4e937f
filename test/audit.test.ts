import { randomUUID } from 'node:crypto';

import test from 'ava';

import { hashToken } from '../src/shared/token-hash.js';
import { createAuditStore } from '../src/audit/store.js';
import { createKey } from './helpers/keys.js';
import { api, signIn, startLogin } from './helpers/oauth.js';
import { DEMO, DEMO_PASSWORD, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let owner: string;
let otherOwner: string;

test.before(async () => {
  server = await startTestServer();
  owner = await signIn(server, 'owner@demo.test');
  otherOwner = await signIn(server, 'owner@other.test');
});
test.after.always(async () => {
  await server?.close();
});

interface Event {
  id: string;
  occurredAt: string;
  action: string;
  actor: { type: string; id: string | null; name: string | null };
  target: { type: string; id: string; name: string } | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

const events = async (query: Record<string, string> = {}, token = owner) => {
  const response = await api(server, `/api/v1/audit-events?${new URLSearchParams({ limit: '200', ...query })}`, { token });
  if (response.status !== 200) throw new Error(`audit list answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body as { items: Event[]; nextCursor: string | null };
};
const eventsOf = async (keyId: string) => (await events({ keyId })).items;
const OWNER = DEMO.demoFitness.staff[0];

test('each change to a key is an event, with who, what, when, from where and which request', async (t) => {
  const created = await api(server, '/api/v1/api-keys', {
    token: owner,
    body: { name: 'Audited CRM', scopes: ['leads:create'] },
    headers: { 'User-Agent': 'audit-test/1.0', 'X-Request-Id': 'audit-create-1' },
  });
  t.is(created.status, 201);
  const id = created.body.id as string;
  const rotated = await api(server, `/api/v1/api-keys/${id}/rotate`, { token: owner, body: { graceSeconds: 600 } });
  t.is(rotated.status, 201);
  t.is((await api(server, `/api/v1/api-keys/${id}/previous`, { token: owner, method: 'DELETE' })).status, 204);
  t.is((await api(server, `/api/v1/api-keys/${id}`, { token: owner, method: 'DELETE' })).status, 204);

  const history = await eventsOf(id);
  t.deepEqual(
    history.map((event) => event.action),
    ['api_key.deleted', 'api_key.previous_revoked', 'api_key.rotated', 'api_key.created'],
    'newest first',
  );
  for (const event of history) {
    t.like(event, { actor: { type: 'staff', id: OWNER.id, name: 'Olivia Owner' }, target: { type: 'api_key', id, name: 'Audited CRM' } });
    t.regex(event.ip ?? '', /127\.0\.0\.1/);
    t.truthy(event.requestId);
  }
  const creation = history[3]!;
  t.like(creation, { userAgent: 'audit-test/1.0', requestId: created.headers.get('x-request-id'), details: { scopes: ['leads:create'], expiresAt: null } });
  t.like(history[2]!.details, { graceSeconds: 600 });
});

test('granting and taking away System Integrations are events naming the staff member', async (t) => {
  const admin = DEMO.demoFitness.staff[1];
  const put = (systemIntegrations: boolean) => api(server, `/api/v1/staff/${admin.id}/access`, { token: owner, method: 'PUT', body: { systemIntegrations } });
  t.is((await put(true)).status, 200);
  t.is((await put(true)).status, 200, 'no change, no event');
  t.is((await put(false)).status, 200);
  const changes = (await events({ actorId: OWNER.id })).items.filter((event) => event.target?.id === admin.id);
  t.deepEqual(changes.map((event) => event.action), ['staff.permission_revoked', 'staff.permission_granted']);
  t.like(changes[0], { target: { type: 'staff', name: 'Adam Admin' }, details: { permission: 'systemIntegrations', role: 'admin' } });
});

test('sign-ins: success and failure, under the facility of the email when there is one; never the password', async (t) => {
  // The Location Admin: no other test here signs in as them.
  const trainer = DEMO.demoFitness.staff[2];
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const login = await startLogin(server);
    t.is((await login.submit(trainer.email, 'not-the-password-x')).status, 401);
  }
  const unknown = await startLogin(server);
  t.is((await unknown.submit('nobody.here@demo.test', 'whatever-password')).status, 401);
  await signIn(server, trainer.email);

  const mine = (await events()).items.filter((event) => event.target?.id === trainer.id);
  t.deepEqual(mine.slice(0, 4).map((event) => event.action), ['staff.signed_in', 'staff.sign_in_failed', 'staff.sign_in_failed', 'staff.sign_in_failed']);
  t.like(mine[1], { actor: { type: 'system' }, target: { type: 'staff', name: 'Lena Location-Admin' }, details: { email: trainer.email } });
  t.like(mine[0], { actor: { type: 'staff', id: trainer.id } });
  // The unknown email's attempt belongs to no facility: no list shows it, and what was typed is not kept.
  const stored = await server.db('audit_events').where({ action: 'staff.sign_in_failed' }).whereNull('facility_id');
  t.true(stored.length >= 1);
  t.false(JSON.stringify(stored).includes('nobody.here'));
  const all = JSON.stringify(await server.db('audit_events').select('*'));
  t.false(all.includes('not-the-password-x'));
  t.false(all.includes('whatever-password'));
});

test('the key policy change is an event with what it was before', async (t) => {
  const put = (maxLifetimeDays: number | null) =>
    api(server, '/api/v1/settings/api-keys', { token: otherOwner, method: 'PUT', body: { maxLifetimeDays, defaultRateLimit: { limit: 600, windowSeconds: 60 } } });
  t.is((await put(30)).status, 200);
  t.is((await put(null)).status, 200);
  const changes = (await events({ action: 'settings.api_keys_changed' }, otherOwner)).items;
  t.is(changes.length, 2);
  t.like(changes[1]!.details, { before: { maxLifetimeDays: null }, after: { maxLifetimeDays: 30 } });
  t.is((await events({ action: 'settings.api_keys_changed' })).items.length, 0, 'another facility sees none of it');
});

test('a key\'s first use from a new address is an event; more uses from it are not', async (t) => {
  const { id, key } = await createKey(server, owner, 'First Use');
  const lead = () => api(server, '/api/v1/leads', { body: { firstName: 'A', lastName: 'B', email: `first.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
  t.is((await lead()).status, 201);
  t.is((await lead()).status, 201);
  await server.flushUsage();
  // Another process (or this one a minute later) sees the same address again: still one event.
  await server.db('api_key_secrets').where({ key_id: id }).update({ last_used_at: null });
  t.is((await lead()).status, 201);
  await server.flushUsage();
  const firsts = (await eventsOf(id)).filter((event) => event.action === 'api_key.first_used_from_ip');
  t.is(firsts.length, 1);
  t.like(firsts[0], { actor: { type: 'system' }, target: { type: 'api_key', id, name: 'First Use' } });
  t.regex(String(firsts[0]!.details.ip), /127\.0\.0\.1/);
});

test('the list: only the facility\'s own events; a foreign key id gives an empty list; needs the permission', async (t) => {
  const theirs = await createKey(server, otherOwner, 'Not Yours To Audit');
  t.deepEqual((await events({ keyId: theirs.id })).items, []);
  t.true((await events({}, otherOwner)).items.some((event) => event.target?.id === theirs.id));
  t.false((await events()).items.some((event) => event.target?.id === theirs.id));
  for (const email of ['trainer@demo.test', 'admin@demo.test']) {
    t.is((await api(server, '/api/v1/audit-events', { token: await signIn(server, email) })).status, 403, email);
  }
  for (const [query, path] of [
    [{ limit: '0' }, 'limit'],
    [{ limit: '201' }, 'limit'],
    [{ action: 'api_key.exploded' }, 'action'],
    [{ keyId: 'nope' }, 'keyId'],
    [{ since: 'yesterday' }, 'since'],
    [{ cursor: 'garbage' }, 'cursor'],
  ] as const) {
    const response = await api(server, `/api/v1/audit-events?${new URLSearchParams(query)}`, { token: owner });
    t.is(response.status, 400, JSON.stringify(query));
    t.is(response.body.errors[0].path, path);
  }
});

test('filters: action, key, actor and a time range', async (t) => {
  const { id } = await createKey(server, owner, 'Filtered');
  const since = new Date(Date.now() - 60_000).toISOString();
  const until = new Date(Date.now() + 60_000).toISOString();
  const byAction = (await events({ action: 'api_key.created', keyId: id, actorId: OWNER.id, since, until })).items;
  t.is(byAction.length, 1);
  t.deepEqual((await events({ keyId: id, until: since })).items, []);
  t.deepEqual((await events({ keyId: id, actorId: DEMO.demoFitness.staff[1].id })).items, []);
});

test('pagination: newest first, every event once, stable while new events arrive', async (t) => {
  const store = createAuditStore(server.db);
  const facilityId = DEMO.otherGym.id;
  for (let index = 0; index < 30; index += 1) {
    await store.append({ facilityId, action: 'staff.signed_in', actor: { type: 'system' }, origin: { ip: null, userAgent: null, requestId: `page-${index}` } });
  }
  // Only this test writes sign-in events of Other Gym now (its Owner signed in before the tests).
  const before = (await events({ action: 'staff.signed_in' }, otherOwner)).items.map((event) => event.id);
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: Event[]; nextCursor: string | null } = await events({ action: 'staff.signed_in', limit: '7', ...(cursor ? { cursor } : {}) }, otherOwner);
    seen.push(...page.items.map((event) => event.id));
    // Events written while paging land before the first page, never inside the pages that follow.
    await store.append({ facilityId, action: 'staff.signed_in', actor: { type: 'system' }, origin: { ip: null, userAgent: null, requestId: 'while-paging' } });
    cursor = page.nextCursor;
  } while (cursor);
  t.true(before.length >= 31);
  t.deepEqual(seen, before, 'the same events, in the same order, none twice');
});

test('CSV: the same rows, quoted by a real writer, formulas defused', async (t) => {
  const { id } = await createKey(server, owner, '=HYPERLINK("http://evil.example")');
  const response = await fetch(`${server.url}/api/v1/audit-events?keyId=${id}`, { headers: { Authorization: `Bearer ${owner}`, Accept: 'text/csv' } });
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/csv/);
  const text = await response.text();
  const lines = text.trim().split('\n');
  t.is(lines[0], 'id,occurredAt,action,actorType,actorId,actorName,targetType,targetId,targetName,ip,userAgent,requestId,details');
  t.is(lines.length, 2);
  t.true(lines[1]!.includes('api_key.created'));
  t.true(lines[1]!.includes(`"'=HYPERLINK(""http://evil.example"")"`), lines[1]);
});

test('append-only: the database refuses UPDATE, DELETE and TRUNCATE; the retention purge removes only old events', async (t) => {
  const store = createAuditStore(server.db);
  const oldId = randomUUID();
  // An event as it was 401 days ago: written past the trigger that stamps the database's clock (a superuser's replica session).
  await server.db.transaction(async (trx) => {
    await trx.raw('set local session_replication_role = replica');
    await trx('audit_events').insert({
      id: oldId,
      facility_id: DEMO.otherGym.id,
      action: 'staff.signed_in',
      actor_type: 'system',
      occurred_at: trx.raw(`now() - interval '401 days'`),
    });
  });
  const [any] = await server.db('audit_events').whereNot({ id: oldId }).limit(1);
  await t.throwsAsync(server.db('audit_events').where({ id: any.id }).update({ action: 'api_key.deleted' }), { message: /append-only/ });
  await t.throwsAsync(server.db('audit_events').where({ id: any.id }).delete(), { message: /append-only/ });
  await t.throwsAsync(server.db.raw('truncate audit_events'), { message: /append-only/ });
  // The purge's own setting does not open the door to recent events.
  await t.throwsAsync(
    server.db.transaction(async (trx) => {
      await trx.raw(`select set_config('octiv.audit_retention_days', '400', true)`);
      await trx('audit_events').where({ id: any.id }).delete();
    }),
    { message: /append-only/ },
  );
  t.true((await store.purgeOlderThan(400)) >= 1);
  t.is(await server.db('audit_events').where({ id: oldId }).first(), undefined);
  t.truthy(await server.db('audit_events').where({ id: any.id }).first());
});

// Serial: it adds a constraint to the events table for a moment (serial tests run before the others).
test.serial('a change and its event commit together: when the event cannot be written, the change is not made', async (t) => {
  await server.db.raw(`alter table audit_events add constraint audit_test_refuse check (target_name is distinct from 'Rolled Back')`);
  try {
    const response = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Rolled Back', scopes: ['leads:create'] } });
    t.is(response.status, 500);
  } finally {
    await server.db.raw('alter table audit_events drop constraint audit_test_refuse');
  }
  t.is(await server.db('api_keys').where({ name: 'Rolled Back' }).first(), undefined);
});

test('no event holds a key, a hash of one, a password, a token or a cookie', async (t) => {
  const login = await startLogin(server);
  const signedIn = await login.finish(await login.submit('owner@demo.test', DEMO_PASSWORD));
  const cookies = login.browser.cookieHeader(new URL(`${server.url}/oauth/`));
  const { id, key } = await createKey(server, signedIn.access_token, 'Secret Scan');
  await api(server, '/api/v1/leads', { body: { firstName: 'A', lastName: 'B', email: `scan.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
  const rotated = await api(server, `/api/v1/api-keys/${id}/rotate`, { token: owner, body: { graceSeconds: 0 } });
  await server.flushUsage();
  await api(server, `/api/v1/api-keys/${id}`, { token: owner, method: 'DELETE' });
  const all = JSON.stringify(await server.db('audit_events').select('*'));
  for (const secret of [key, hashToken(key), rotated.body.key as string, hashToken(rotated.body.key as string), signedIn.access_token, DEMO_PASSWORD]) {
    t.false(all.includes(secret), secret.slice(0, 12));
  }
  for (const cookie of cookies.split('; ').map((pair) => pair.split('=')[1]).filter((value): value is string => Boolean(value && value.length > 8))) {
    t.false(all.includes(cookie));
  }
  t.false(all.includes(key.slice(8, -4)), 'no part of a key beyond its hint');
});
