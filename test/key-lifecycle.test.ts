import { randomUUID } from 'node:crypto';

import test from 'ava';

import { hashToken } from '../src/shared/token-hash.js';
import { createKey, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

// Expiry, rotation, last use and the facility's key policy. Time is moved
// by changing timestamps in the database, never by sleeping.

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

const DAY = 24 * 60 * 60 * 1000;
const postLead = (key: string) =>
  api(server, '/api/v1/leads', { body: { firstName: 'Life', lastName: 'Cycle', email: `life.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
const getKey = async (id: string, token = owner) => (await api(server, `/api/v1/api-keys/${id}`, { token })).body;
const create = (body: Record<string, unknown>, token = owner) => api(server, '/api/v1/api-keys', { token, body: { scopes: ['leads:create'], ...body } });
const rotate = (id: string, body: unknown = {}, token = owner) => api(server, `/api/v1/api-keys/${id}/rotate`, { token, body });

/** Moves a key's expiry (the key row and every secret's token) to `at`. */
async function expireAt(id: string, at: string) {
  await server.db('api_keys').where({ id }).update({ expires_at: server.db.raw(`${at}`) });
  const hashes = await server.db('api_key_secrets').where({ key_id: id }).pluck('token_hash');
  await server.db('oidc_payloads')
    .where({ model: 'AccessToken' })
    .whereIn('id', hashes)
    .update({ expires_at: server.db.raw(at), payload: server.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from ${at})::bigint))`) });
}

test('expiresAt: a future time is kept, and introspection says when the key stops', async (t) => {
  const expiresAt = new Date(Date.now() + 30 * DAY);
  const response = await create({ name: 'Expires in 30 days', expiresAt: expiresAt.toISOString() });
  t.is(response.status, 201);
  t.is(response.body.expiresAt, expiresAt.toISOString());
  t.is(response.body.status, 'active');
  const introspected = await introspect(server, response.body.key);
  t.true(introspected.body.active as boolean);
  t.true(Math.abs((introspected.body.exp as number) - expiresAt.getTime() / 1000) <= 1, 'exp is the expiry');
  t.is((await postLead(response.body.key)).status, 201);
});

test('expiresAt: past, unparsable or the wrong type is 400 naming expiresAt, and nothing is created', async (t) => {
  for (const expiresAt of [new Date(Date.now() - 1000).toISOString(), 'next tuesday', '2027-13-01T00:00:00Z', 42]) {
    const name = `Bad expiry ${String(expiresAt)}`;
    const response = await create({ name, expiresAt });
    t.is(response.status, 400, String(expiresAt));
    t.is(response.body.errors[0].path, 'expiresAt');
    const list = (await api(server, '/api/v1/api-keys', { token: owner })).body.items as { name: string }[];
    t.false(list.some((item) => item.name === name));
  }
});

test('an expired key is refused everywhere at once and stays listed as expired until deleted', async (t) => {
  const { id, key } = await createKey(server, owner, 'Soon Expired');
  t.is((await postLead(key)).status, 201);
  await expireAt(id, `now() - interval '1 second'`);
  const refused = await postLead(key);
  t.is(refused.status, 401);
  t.regex(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  t.deepEqual((await introspect(server, key)).body, { active: false });
  t.like(await getKey(id), { id, status: 'expired' });
  t.is((await rotate(id)).status, 409, 'an expired key cannot be rotated');
  t.is((await api(server, `/api/v1/api-keys/${id}`, { token: owner, method: 'DELETE' })).status, 204);
  t.is((await api(server, `/api/v1/api-keys/${id}`, { token: owner })).status, 404);
});

test('a key is refused from the second its expiry passes, with no job to catch up', async (t) => {
  const { id, key } = await createKey(server, owner, 'Expiring Now');
  // A minute ahead, not a second: a request on a loaded machine can take a second, and this one must be before the expiry.
  await expireAt(id, `now() + interval '1 minute'`);
  t.is((await postLead(key)).status, 201, 'still live before its expiry');
  await expireAt(id, `now()`);
  t.is((await postLead(key)).status, 401);
});

test('the facility policy: the Owner sets a maximum lifetime; it caps and defaults new keys, and existing keys keep theirs', async (t) => {
  const otherFacility = await api(server, '/api/v1/settings/api-keys', { token: otherOwner });
  t.deepEqual(otherFacility.body, { maxLifetimeDays: null, defaultRateLimit: { limit: 600, windowSeconds: 60 }, keysBeyondMaxLifetime: 0 });
  const forever = await createKey(server, otherOwner, 'Forever Key');
  const set = await api(server, '/api/v1/settings/api-keys', {
    token: otherOwner,
    method: 'PUT',
    body: { maxLifetimeDays: 90, defaultRateLimit: { limit: 100, windowSeconds: 60 } },
  });
  t.is(set.status, 200);
  t.like(set.body, { maxLifetimeDays: 90, defaultRateLimit: { limit: 100, windowSeconds: 60 } });
  t.true(set.body.keysBeyondMaxLifetime >= 1, 'the answer says how many live keys outlive the new maximum');
  t.like(await getKey(forever.id, otherOwner), { expiresAt: null, status: 'active', rateLimit: { limit: 100, windowSeconds: 60 } });

  const defaulted = await create({ name: 'Policy Default' }, otherOwner);
  t.is(defaulted.status, 201);
  t.true(Math.abs(Date.parse(defaulted.body.expiresAt) - (Date.now() + 90 * DAY)) < 60_000, 'omitted: the maximum lifetime');
  const tooLong = await create({ name: 'Too Long', expiresAt: new Date(Date.now() + 91 * DAY).toISOString() }, otherOwner);
  t.is(tooLong.status, 400);
  t.like(tooLong.body.errors[0], { path: 'expiresAt' });
  t.regex(tooLong.body.errors[0].message, /90 days/);
  const never = await create({ name: 'Never', expiresAt: null }, otherOwner);
  t.is(never.status, 400);
  t.is(never.body.errors[0].path, 'expiresAt');
  const within = await create({ name: 'Within', expiresAt: new Date(Date.now() + 10 * DAY).toISOString(), rateLimit: { limit: 5, windowSeconds: 1 } }, otherOwner);
  t.is(within.status, 201);
  t.deepEqual(within.body.rateLimit, { limit: 5, windowSeconds: 1 });

  // Expired by policy: the defaulted key's maximum lifetime passes.
  await expireAt(defaulted.body.id, `now() - interval '1 second'`);
  t.is((await postLead(defaulted.body.key)).status, 401);
  t.is((await getKey(defaulted.body.id, otherOwner)).status, 'expired');

  await api(server, '/api/v1/settings/api-keys', { token: otherOwner, method: 'PUT', body: { maxLifetimeDays: null, defaultRateLimit: { limit: 600, windowSeconds: 60 } } });
});

test('the policy: readable with the permission, changed only by an Owner, validated field by field', async (t) => {
  const admin = await signIn(server, 'admin@demo.test');
  t.is((await api(server, '/api/v1/settings/api-keys', { token: admin })).status, 403, 'no permission, no policy');
  const body = { maxLifetimeDays: 30, defaultRateLimit: { limit: 10, windowSeconds: 60 } };
  t.is((await api(server, '/api/v1/settings/api-keys', { token: admin, method: 'PUT', body })).status, 403);
  for (const [bad, path] of [
    [{ ...body, maxLifetimeDays: 0 }, 'maxLifetimeDays'],
    [{ ...body, maxLifetimeDays: 3651 }, 'maxLifetimeDays'],
    [{ ...body, maxLifetimeDays: 1.5 }, 'maxLifetimeDays'],
    [{ ...body, defaultRateLimit: { limit: 0, windowSeconds: 60 } }, 'defaultRateLimit.limit'],
    [{ ...body, defaultRateLimit: { limit: 10, windowSeconds: 86_401 } }, 'defaultRateLimit.windowSeconds'],
    [{ maxLifetimeDays: 30 }, 'defaultRateLimit'],
  ] as const) {
    const response = await api(server, '/api/v1/settings/api-keys', { token: owner, method: 'PUT', body: bad });
    t.is(response.status, 400, JSON.stringify(bad));
    t.true(response.body.errors.some((error: { path: string }) => error.path === path), JSON.stringify(response.body.errors));
  }
  t.is((await api(server, '/api/v1/settings/api-keys', { token: owner })).body.maxLifetimeDays, null, 'nothing changed');
});

test('rotation: a new secret for the same key; the previous one works through the grace period, then is refused', async (t) => {
  const created = await createKey(server, owner, 'Rotated CRM');
  const rotated = await rotate(created.id, { graceSeconds: 3600 });
  t.is(rotated.status, 201);
  t.is(rotated.headers.get('cache-control'), 'no-store');
  t.not(rotated.body.key, created.key);
  t.like(rotated.body, { id: created.id, name: created.name, scopes: created.scopes, status: 'rotating' });
  t.is(rotated.body.hint, `oct_pat_…${(rotated.body.key as string).slice(-4)}`);
  t.true(Math.abs(Date.parse(rotated.body.rotation.previousExpiresAt) - (Date.now() + 3600_000)) < 60_000);

  // Both secrets work during the grace period, everywhere.
  t.is((await postLead(created.key)).status, 201);
  t.is((await postLead(rotated.body.key)).status, 201);
  const previous = await introspect(server, created.key);
  t.like(previous.body, { active: true, key_id: created.id });
  t.true(Math.abs((previous.body.exp as number) * 1000 - Date.parse(rotated.body.rotation.previousExpiresAt)) <= 1000, 'exp: when the previous secret stops');
  await server.flushUsage();
  const during = await getKey(created.id);
  t.is(during.status, 'rotating');
  t.truthy(during.rotation.previousLastUsedAt, 'the admin sees the previous secret being used');

  // The grace period ends.
  await server.db('api_key_secrets').where({ token_hash: hashToken(created.key) }).update({ ends_at: server.db.raw(`now() - interval '1 second'`) });
  t.is((await postLead(created.key)).status, 401);
  t.deepEqual((await introspect(server, created.key)).body, { active: false });
  t.is((await postLead(rotated.body.key)).status, 201);
  t.like(await getKey(created.id), { status: 'active', rotation: null });
});

test('ending the grace period now: the previous secret stops at once; with no rotation in progress it is 404', async (t) => {
  const created = await createKey(server, owner, 'End Grace');
  const rotated = await rotate(created.id, { graceSeconds: 86_400 });
  t.is((await postLead(created.key)).status, 201);
  const ended = await api(server, `/api/v1/api-keys/${created.id}/previous`, { token: owner, method: 'DELETE' });
  t.is(ended.status, 204);
  t.is((await postLead(created.key)).status, 401);
  t.is((await postLead(rotated.body.key)).status, 201);
  t.is((await getKey(created.id)).status, 'active');
  t.is((await api(server, `/api/v1/api-keys/${created.id}/previous`, { token: owner, method: 'DELETE' })).status, 404);
  t.is((await api(server, `/api/v1/api-keys/${created.id}/previous`, { token: otherOwner, method: 'DELETE' })).status, 404);
});

test('graceSeconds 0 stops the previous secret at once; rotating again ends the older secret at once (never more than two)', async (t) => {
  const first = await createKey(server, owner, 'Rotate Twice');
  const immediate = await rotate(first.id, { graceSeconds: 0 });
  t.is(immediate.status, 201);
  t.is((await postLead(first.key)).status, 401, 'grace 0: at once');
  t.is(immediate.body.status, 'active');

  const second = await rotate(first.id, { graceSeconds: 3600 });
  const third = await rotate(first.id, { graceSeconds: 3600 });
  t.is((await postLead(immediate.body.key)).status, 401, 'the oldest live secret stopped at once');
  t.is((await postLead(second.body.key)).status, 201, 'the one just replaced is in its grace period');
  t.is((await postLead(third.body.key)).status, 201);
  const live = await server.db('api_key_secrets').where({ key_id: first.id }).where((query) => query.whereNull('ends_at').orWhere('ends_at', '>', server.db.raw('now()')));
  t.is(live.length, 2);
});

test('rotate: default grace of a day; bad grace is 400; unknown, another facility\'s or deleted keys are 404', async (t) => {
  const created = await createKey(server, owner, 'Rotate Rules');
  const rotated = await api(server, `/api/v1/api-keys/${created.id}/rotate`, { token: owner, method: 'POST' });
  t.is(rotated.status, 201);
  t.true(Math.abs(Date.parse(rotated.body.rotation.previousExpiresAt) - (Date.now() + DAY)) < 60_000);
  for (const graceSeconds of [-1, 604_801, 'soon', 1.5]) {
    const response = await rotate(created.id, { graceSeconds });
    t.is(response.status, 400, String(graceSeconds));
    t.is(response.body.errors[0].path, 'graceSeconds');
  }
  t.is((await rotate(randomUUID())).status, 404);
  t.is((await rotate(created.id, {}, otherOwner)).status, 404);
  await api(server, `/api/v1/api-keys/${created.id}`, { token: owner, method: 'DELETE' });
  t.is((await rotate(created.id)).status, 404);
  t.is((await postLead(rotated.body.key)).status, 401);
  t.is((await postLead(created.key)).status, 401, 'delete ends both secrets');
});

test('last use: time and address of the latest use, written at most once a minute; leads created are counted', async (t) => {
  const created = await createKey(server, owner, 'Usage Tracked');
  t.like(await getKey(created.id), { lastUsedAt: null, lastUsedIp: null, leadsCreated: 0 });
  t.is((await postLead(created.key)).status, 201);
  t.is((await postLead(created.key)).status, 201);
  await server.flushUsage();
  const used = await getKey(created.id);
  t.truthy(used.lastUsedAt);
  t.true(Math.abs(Date.parse(used.lastUsedAt) - Date.now()) < 60_000);
  t.regex(used.lastUsedIp, /127\.0\.0\.1/);
  t.is(used.leadsCreated, 2);

  // Within the minute, another use writes nothing (from this process or another).
  await server.db('api_key_secrets').where({ key_id: created.id }).update({ last_used_at: server.db.raw(`now() - interval '30 seconds'`) });
  const before = (await server.db('api_key_secrets').where({ key_id: created.id }).first()).last_used_at as Date;
  await postLead(created.key);
  await server.flushUsage();
  t.deepEqual((await server.db('api_key_secrets').where({ key_id: created.id }).first()).last_used_at, before);
});

test('telling keys apart: a hint (prefix and last four), who created it and when, to the second', async (t) => {
  const created = await createKey(server, owner, 'Told Apart');
  const listed = await getKey(created.id);
  t.is(listed.hint, `oct_pat_…${created.key.slice(-4)}`);
  t.deepEqual(listed.createdBy, { id: DEMO.demoFitness.staff[0].id, name: 'Olivia Owner' });
  t.regex(listed.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.deepEqual(listed.rateLimit, { limit: 600, windowSeconds: 60 });
  t.is(listed.expiresAt, null);
  t.is((await api(server, `/api/v1/api-keys/${created.id}`, { token: otherOwner })).status, 404, 'another facility\'s key is 404');
});
