import { randomUUID } from 'node:crypto';

import test from 'ava';

import { generateKey } from '../src/api-keys/key-format.js';
import { usageSchema } from '../src/api-keys/schemas.js';
import { createDailyCounts, type DailyCount } from '../src/api-keys/usage-counts.js';
import { createOperatorCommands } from '../src/operator/commands.js';
import { hashToken } from '../src/shared/token-hash.js';
import { createKey, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, logLine, startTestServer, type TestServer } from './helpers/server.js';

// Usage you can see (API.md): each key's requests, refusals by reason and
// leads per UTC day, counted in memory by every process and added up in the
// database. Two servers share one database: `server` checks keys in the
// write (the default), `second` with the verifier before writing.

let server: TestServer;
let second: TestServer;
let owner: string;
let otherOwner: string;

test.before(async () => {
  server = await startTestServer();
  second = await startTestServer({ share: server, env: { LEADS_API_KEY_CHECK: 'in-process' } });
  owner = await signIn(server, 'owner@demo.test');
  otherOwner = await signIn(server, 'owner@other.test');
});
test.after.always(async () => {
  await second?.close();
  await server?.close();
});

type Day = { date: string; leadsCreated: number; requests: number; refused: Record<string, number> };

const postLead = (on: TestServer, key: string, body: Record<string, unknown> = {}) =>
  api(on, '/api/v1/leads', { body: { firstName: 'Use', lastName: 'Count', email: `use.${randomUUID()}@example.com`, ...body }, headers: { Authorization: `Bearer ${key}` } });
const readLeads = (on: TestServer, key: string) => api(on, '/api/v1/leads', { headers: { Authorization: `Bearer ${key}` } });
const today = () => new Date().toISOString().slice(0, 10);

/** Writes both servers' counts, then reads the key's usage (the answer checked against its schema). */
async function usageOf(id: string, query = '', token = owner): Promise<{ status: number; days: Day[]; body: any }> {
  await Promise.all([server.flushUsage(), second.flushUsage()]);
  const response = await api(server, `/api/v1/api-keys/${id}/usage${query}`, { token });
  if (response.status === 200) usageSchema.parse(response.body);
  return { status: response.status, days: response.body?.days, body: response.body };
}

const todayOf = async (id: string) => (await usageOf(id)).days.at(-1)!;

test('counts from two processes add up, also when both write the same key and day at once', async (t) => {
  const { id, key } = await createKey(server, owner, 'Two Processes');
  for (let round = 0; round < 2; round += 1) {
    // Each process counts on its own; both then add to the same row at the same moment.
    const answers = await Promise.all([...Array.from({ length: 3 }, () => postLead(server, key)), ...Array.from({ length: 2 }, () => postLead(second, key))]);
    t.deepEqual(answers.map((answer) => answer.status), [201, 201, 201, 201, 201]);
    t.is((await introspect(second, key)).body.active, true, 'introspection is a use too');
  }
  const day = await todayOf(id);
  t.deepEqual(day, { date: today(), leadsCreated: 10, requests: 12, refused: {} });
  const rows = await server.db('api_key_usage_days').where({ key_id: id });
  t.deepEqual(
    rows.map((row) => [row.outcome, Number(row.requests)]),
    [['accepted', 12]],
    'one row per key, day and outcome, whichever process counted',
  );
});

test('refusals by reason after a rotation with no grace: the old secret is the key\'s rotated_out', async (t) => {
  const { id, key: old } = await createKey(server, owner, 'Rotated At Once');
  const rotated = await api(server, `/api/v1/api-keys/${id}/rotate`, { token: owner, body: { graceSeconds: 0 } });
  t.is(rotated.status, 201);
  t.is((await postLead(server, old)).status, 401, 'in the write');
  t.is((await postLead(second, old)).status, 401, 'before the write');
  t.is((await postLead(server, old)).status, 401);
  t.deepEqual((await introspect(server, old)).body, { active: false });
  t.is((await postLead(second, rotated.body.key)).status, 201);
  t.deepEqual(await todayOf(id), { date: today(), leadsCreated: 1, requests: 5, refused: { rotated_out: 4 } });
});

test('refusals by reason past a rate limit: rate_limited, from the key\'s limit', async (t) => {
  const created = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Limited Use', scopes: ['leads:create'], rateLimit: { limit: 2, windowSeconds: 3600 } } });
  t.is(created.status, 201);
  const statuses = [];
  for (let index = 0; index < 5; index += 1) statuses.push((await postLead(server, created.body.key)).status);
  t.deepEqual(statuses, [201, 201, 429, 429, 429]);
  t.deepEqual(await todayOf(created.body.id), { date: today(), leadsCreated: 2, requests: 5, refused: { rate_limited: 3 } });
});

test('refusals by reason with a scope the key lacks: insufficient_scope, in each way of checking', async (t) => {
  const reader = await createKey(server, owner, 'Reads Only', ['leads:read']);
  t.is((await postLead(server, reader.key)).status, 403);
  t.is((await postLead(second, reader.key)).status, 403);
  t.is((await readLeads(server, reader.key)).status, 200);
  const writer = await createKey(server, owner, 'Writes Only');
  t.is((await readLeads(second, writer.key)).status, 403);
  t.deepEqual(await todayOf(reader.id), { date: today(), leadsCreated: 0, requests: 3, refused: { insufficient_scope: 2 } });
  t.deepEqual(await todayOf(writer.id), { date: today(), leadsCreated: 0, requests: 1, refused: { insufficient_scope: 1 } });
});

test('refusals by reason at a location the key is not for: location_not_allowed and location_required, in each way of checking', async (t) => {
  const [here, elsewhere] = DEMO.demoFitness.locations;
  const one = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'One Location', scopes: ['leads:create'], locationIds: [here!.id] } });
  t.is((await postLead(server, one.body.key, { locationId: elsewhere!.id })).status, 403);
  t.is((await postLead(second, one.body.key, { locationId: elsewhere!.id })).status, 403);
  t.is((await postLead(second, one.body.key)).status, 201, 'its only location, unnamed');
  const both = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Two Locations', scopes: ['leads:create'], locationIds: [here!.id, elsewhere!.id] } });
  t.is((await postLead(server, both.body.key)).status, 400);
  t.deepEqual(await todayOf(one.body.id), { date: today(), leadsCreated: 1, requests: 3, refused: { location_not_allowed: 2 } });
  t.deepEqual(await todayOf(both.body.id), { date: today(), leadsCreated: 0, requests: 1, refused: { location_required: 1 } });
});

// Serial: it counts every row of the table, so no other test may add rows meanwhile.
test.serial('refusals of an expired, a revoked and a deleted key are counted for that key; unknown and malformed values make no rows', async (t) => {
  const expired = await createKey(server, owner, 'Expired Use');
  await server.db('api_keys').where({ id: expired.id }).update({ expires_at: server.db.raw(`now() - interval '1 second'`) });
  t.is((await postLead(server, expired.key)).status, 401);
  const revoked = await createKey(server, owner, 'Revoked Use');
  await createOperatorCommands(server.services).revokeKey(revoked.id, 'test');
  t.is((await postLead(second, revoked.key)).status, 401);
  const deleted = await createKey(server, owner, 'Deleted Use');
  t.is((await api(server, `/api/v1/api-keys/${deleted.id}`, { token: owner, method: 'DELETE' })).status, 204);
  t.is((await postLead(server, deleted.key)).status, 401);
  t.like(await todayOf(expired.id), { requests: 1, refused: { expired: 1 } });
  t.like(await todayOf(revoked.id), { requests: 1, refused: { revoked: 1 } });
  // A deleted key has no page any more; its count is still kept for it.
  t.is((await usageOf(deleted.id)).status, 404);
  t.deepEqual(
    (await server.db('api_key_usage_days').where({ key_id: deleted.id })).map((row) => [row.outcome, Number(row.requests)]),
    [['deleted', 1]],
  );

  const before = await server.db('api_key_usage_days').count('* as n').first();
  const unknown = generateKey();
  t.is((await postLead(server, unknown)).status, 401);
  t.is((await postLead(second, unknown)).status, 401);
  t.is((await postLead(server, 'oct_pat_not-a-key')).status, 401);
  t.deepEqual((await introspect(server, unknown)).body, { active: false });
  await Promise.all([server.flushUsage(), second.flushUsage()]);
  t.deepEqual(await server.db('api_key_usage_days').count('* as n').first(), before, 'no row for a value that names no key');
  const stored = JSON.stringify(await server.db('api_key_usage_days').select('*'));
  for (const secret of [expired.key, revoked.key, deleted.key, unknown]) {
    t.false(stored.includes(secret) || stored.includes(hashToken(secret)), 'never a key or its hash in a usage row');
  }
});

test('the days: oldest first, one per UTC day, days without use as zeros; leads counted from the members on their day', async (t) => {
  const { id, key } = await createKey(server, owner, 'Days Of Use');
  t.is((await postLead(server, key)).status, 201);
  t.is((await postLead(server, key)).status, 201);
  // Two days ago: a lead, two requests and a refusal (as a process would have added them).
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
  const moved = await server.db('members').where({ created_by_key: id }).first('id');
  await server.db('members').where({ id: moved.id }).update({ created_at: server.db.raw(`(?::date + time '12:00') at time zone 'UTC'`, [twoDaysAgo]) });
  await server.db('api_key_usage_days').insert([
    { key_id: id, day: twoDaysAgo, outcome: 'accepted', requests: 2 },
    { key_id: id, day: twoDaysAgo, outcome: 'expired', requests: 1 },
  ]);
  const { days } = await usageOf(id);
  t.is(days.length, 30, '30 days unless asked');
  t.deepEqual(
    days.map((day) => day.date),
    Array.from({ length: 30 }, (_, index) => new Date(Date.now() - (29 - index) * 86_400_000).toISOString().slice(0, 10)),
  );
  t.deepEqual(days.at(-1), { date: today(), leadsCreated: 1, requests: 2, refused: {} });
  t.deepEqual(days.at(-3), { date: twoDaysAgo, leadsCreated: 1, requests: 3, refused: { expired: 1 } });
  t.deepEqual(days.at(-2), { date: days.at(-2)!.date, leadsCreated: 0, requests: 0, refused: {} });
  t.true(days.slice(0, -3).every((day) => day.requests === 0 && day.leadsCreated === 0));
  t.is((await usageOf(id, '?days=1')).days.length, 1);
  t.is((await usageOf(id, '?days=90')).days.length, 90);
  t.deepEqual((await usageOf(id, '?days=2')).days, days.slice(-2));
});

test('days out of range or not a whole number is 400 naming days; unknown, another facility\'s and deleted keys are 404; staff without the permission 403', async (t) => {
  const { id } = await createKey(server, owner, 'Usage Rules');
  for (const days of ['0', '91', '-1', 'x', '1.5', '']) {
    const response = await usageOf(id, `?days=${days}`);
    t.is(response.status, 400, `days=${days}`);
    t.is(response.body.errors[0].path, 'days', `days=${days}`);
  }
  t.is((await usageOf(id, '?weeks=2')).status, 400, 'an unknown parameter');
  t.is((await usageOf(randomUUID())).status, 404);
  const foreign = await usageOf(id, '', otherOwner);
  t.is(foreign.status, 404, 'another facility\'s key is 404, like an unknown one');
  t.false(JSON.stringify(foreign.body).includes('Usage Rules'));
  const admin = await signIn(server, 'admin@demo.test');
  t.is((await usageOf(id, '', admin)).status, 403);
  t.is((await api(server, `/api/v1/api-keys/${id}/usage`)).status, 401);
});

test('retention: the operator\'s purge removes days older than 400, and keeps the rest', async (t) => {
  const { id } = await createKey(server, owner, 'Old Usage');
  const daysAgo = (count: number) => new Date(Date.now() - count * 86_400_000).toISOString().slice(0, 10);
  await server.db('api_key_usage_days').insert([401, 400, 399].map((count) => ({ key_id: id, day: daysAgo(count), outcome: 'accepted', requests: count })));
  const removed = await createOperatorCommands(server.services).purge();
  t.true((removed['key usage days older than 400 days'] ?? 0) >= 1);
  const kept = await server.db('api_key_usage_days').where({ key_id: id }).orderBy('day').pluck('requests');
  t.deepEqual(kept.map(Number), [400, 399]);
});

// Serial (before the others): the table refuses every write for a moment.
test.serial('a write that fails keeps its counts for the next one', async (t) => {
  const { id, key } = await createKey(server, owner, 'Counts Kept');
  t.is((await postLead(server, key)).status, 201);
  // The database refuses the write (as a failing statement would), then takes it again.
  await server.db.raw('alter table api_key_usage_days add constraint refuse_for_a_test check (requests < 0) not valid');
  try {
    await server.flushUsage();
    await logLine(server, { msg: 'could not record API key requests per day; kept for the next write' });
    t.is(await server.db('api_key_usage_days').where({ key_id: id }).first(), undefined);
  } finally {
    await server.db.raw('alter table api_key_usage_days drop constraint refuse_for_a_test');
  }
  t.deepEqual(await todayOf(id), { date: today(), leadsCreated: 1, requests: 1, refused: {} });
});

test('a Leads API that checks keys over introspection: each request is counted once, by the introspection that judged it', async (t) => {
  const remote = await startTestServer({ share: server, remoteIntrospection: true });
  try {
    const { id, key } = await createKey(server, owner, 'Checked Remotely');
    t.is((await postLead(remote, key)).status, 201);
    const rotated = await api(server, `/api/v1/api-keys/${id}/rotate`, { token: owner, body: { graceSeconds: 0 } });
    t.is((await postLead(remote, key)).status, 401);
    t.is((await postLead(remote, rotated.body.key)).status, 201);
    await remote.flushUsage();
    t.deepEqual(await todayOf(id), { date: today(), leadsCreated: 2, requests: 3, refused: { rotated_out: 1 } });
  } finally {
    await remote.close();
  }
});

test('counted in memory by UTC day: a request just before midnight and one just after are two days; what is put back is added to what comes next', (t) => {
  const counts = createDailyCounts();
  const midnight = Date.parse('2026-12-07T00:00:00Z');
  counts.accepted('secret-a', midnight - 1);
  counts.accepted('secret-a', midnight);
  counts.accepted('secret-a', midnight + 1);
  counts.refused('key-b', 'expired', midnight + 2);
  const taken = counts.take();
  t.deepEqual(taken, [
    { tokenHash: 'secret-a', keyId: null, day: '2026-12-06', outcome: 'accepted', requests: 1 },
    { tokenHash: 'secret-a', keyId: null, day: '2026-12-07', outcome: 'accepted', requests: 2 },
    { tokenHash: null, keyId: 'key-b', day: '2026-12-07', outcome: 'expired', requests: 1 },
  ]);
  t.deepEqual(counts.take(), [], 'taken once');
  counts.refused('key-b', 'expired', midnight + 3);
  counts.add(taken);
  const sorted = (rows: DailyCount[]) => rows.map((row) => JSON.stringify(row)).sort();
  t.deepEqual(
    sorted(counts.take()),
    sorted([
      { tokenHash: 'secret-a', keyId: null, day: '2026-12-06', outcome: 'accepted', requests: 1 },
      { tokenHash: 'secret-a', keyId: null, day: '2026-12-07', outcome: 'accepted', requests: 2 },
      { tokenHash: null, keyId: 'key-b', day: '2026-12-07', outcome: 'expired', requests: 2 },
    ]),
  );
});
