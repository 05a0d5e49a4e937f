import { randomUUID } from 'node:crypto';

import test from 'ava';

import { heldTransactionTests } from './helpers/database.js';
import { createKey, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

// API.md "Scopes and locations" and "Leads: read": leads:read beside
// leads:create, keys limited to locations, and a cursor a CRM can poll for
// ever without missing or repeating a lead.

const [DOWNTOWN, RIVERSIDE] = DEMO.demoFitness.locations.map((location) => location.id) as [string, string];
const OTHER_GYM_LOCATION = DEMO.otherGym.locations[0].id;

let server: TestServer;
let owner: string;
let creator: string;
let reader: string;
let downtownOnly: { id: string; key: string };
let bothLocations: string;

test.before(async () => {
  server = await startTestServer();
  owner = await signIn(server, 'owner@demo.test');
  creator = (await createKey(server, owner, 'Landing page', ['leads:create'])).key;
  reader = (await createKey(server, owner, 'CRM sync', ['leads:read'])).key;
  const limited = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Downtown page', scopes: ['leads:create', 'leads:read'], locationIds: [DOWNTOWN] } });
  if (limited.status !== 201) throw new Error(JSON.stringify(limited.body));
  downtownOnly = { id: limited.body.id, key: limited.body.key };
  const both = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Two places', scopes: ['leads:create'], locationIds: [DOWNTOWN, RIVERSIDE] } });
  bothLocations = both.body.key;
});
test.after.always(async () => {
  await server?.close();
});

const lead = (overrides: Record<string, unknown> = {}) => ({ firstName: 'Rea', lastName: 'Der', email: `read.${randomUUID()}@example.com`, ...overrides });
const post = (key: string, body: unknown) => api(server, '/api/v1/leads', { token: key, body });
const list = (key: string, query = '') => api(server, `/api/v1/leads${query}`, { token: key });

test('GET /locations: the facility\'s locations to any staff member, nothing without a token', async (t) => {
  const trainer = await signIn(server, 'trainer@demo.test');
  const answer = await api(server, '/api/v1/locations', { token: trainer });
  t.is(answer.status, 200);
  t.deepEqual(answer.body.items, [...DEMO.demoFitness.locations].sort((a, b) => a.name.localeCompare(b.name)));
  t.is((await api(server, '/api/v1/locations')).status, 401);
  const other = await api(server, '/api/v1/locations', { token: await signIn(server, 'owner@other.test') });
  t.deepEqual(other.body.items.map((location: { id: string }) => location.id), [OTHER_GYM_LOCATION]);
});

test('a key limited to locations: listed and introspected with them; another facility\'s or an unknown location is 400 naming locationIds', async (t) => {
  const listed = (await api(server, `/api/v1/api-keys/${downtownOnly.id}`, { token: owner })).body;
  t.deepEqual(listed.locationIds, [DOWNTOWN]);
  t.like((await introspect(server, downtownOnly.key)).body, { active: true, location_ids: [DOWNTOWN] });
  t.false('location_ids' in (await introspect(server, creator)).body, 'a key of every location has none');
  for (const [locationIds, path] of [
    [[OTHER_GYM_LOCATION], 'locationIds.0'],
    [[DOWNTOWN, randomUUID()], 'locationIds.1'],
    [[], 'locationIds'],
    [['not-an-id'], 'locationIds.0'],
  ] as const) {
    const refused = await api(server, '/api/v1/api-keys', { token: owner, body: { name: `Bad ${randomUUID()}`, scopes: ['leads:create'], locationIds } });
    t.is(refused.status, 400, JSON.stringify(locationIds));
    t.true(refused.body.errors.some((error: { path: string }) => error.path === path), JSON.stringify(refused.body.errors));
  }
  const everywhere = await api(server, '/api/v1/api-keys', { token: owner, body: { name: `Everywhere ${randomUUID()}`, scopes: ['leads:create'], locationIds: null } });
  t.is(everywhere.body.locationIds, null);
});

test('POST /leads with a limited key: its only location by default, 403 naming locationId elsewhere, 400 when it has several and none is named', async (t) => {
  const placed = await post(downtownOnly.key, lead());
  t.is(placed.status, 201);
  t.is(placed.body.locationId, DOWNTOWN, 'the key\'s only location');
  const elsewhere = await post(downtownOnly.key, lead({ locationId: RIVERSIDE }));
  t.is(elsewhere.status, 403);
  t.is(elsewhere.headers.get('content-type'), 'application/problem+json');
  t.deepEqual(elsewhere.body.errors.map((error: { path: string }) => error.path), ['locationId']);
  const unnamed = await post(bothLocations, lead());
  t.is(unnamed.status, 400);
  t.deepEqual(unnamed.body.errors.map((error: { path: string }) => error.path), ['locationId']);
  t.is((await post(bothLocations, lead({ locationId: RIVERSIDE }))).status, 201);
  t.is((await post(creator, lead())).body.locationId, null, 'a key of every location leaves it unnamed');
  // Nothing refused was written.
  t.is(await server.db('members').where({ email: elsewhere.body.email ?? '' }).first(), undefined);
});

test('scopes: each operation needs its own; a key without it gets 403 insufficient_scope naming the scope', async (t) => {
  const write = await post(reader, lead());
  t.is(write.status, 403);
  t.regex(write.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="leads:create"/);
  const read = await list(creator);
  t.is(read.status, 403);
  t.regex(read.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="leads:read"/);
});

test('GET /leads/{id}: with leads:read any lead of the facility (of its locations, when limited); with only leads:create its own', async (t) => {
  const mine = (await post(creator, lead())).body;
  const riverside = (await post(bothLocations, lead({ locationId: RIVERSIDE }))).body;
  const otherGymKey = (await createKey(server, await signIn(server, 'owner@other.test'), `Other ${randomUUID()}`)).key;
  const foreign = (await post(otherGymKey, lead())).body;
  t.is((await api(server, `/api/v1/leads/${riverside.id}`, { token: reader })).status, 200, 'another key\'s lead, to a reader');
  t.is((await api(server, `/api/v1/leads/${riverside.id}`, { token: creator })).status, 404, 'another key\'s lead, to a creator');
  t.is((await api(server, `/api/v1/leads/${mine.id}`, { token: creator })).status, 200);
  t.is((await api(server, `/api/v1/leads/${riverside.id}`, { token: downtownOnly.key })).status, 404, 'a lead of another location');
  t.is((await api(server, `/api/v1/leads/${foreign.id}`, { token: reader })).status, 404, 'another facility\'s');
  t.like((await api(server, `/api/v1/leads/${mine.id}`, { token: reader })).body, { id: mine.id, email: mine.email, status: 'lead' });
});

/** Polls from `cursor` until a page is empty; returns every lead read and the last cursor. */
async function drain(key: string, cursor: string | undefined, query = ''): Promise<{ ids: string[]; cursor: string }> {
  const ids: string[] = [];
  let at = cursor;
  for (;;) {
    const page = await list(key, `?limit=7${at ? `&cursor=${at}` : ''}${query}`);
    if (page.status !== 200) throw new Error(JSON.stringify(page.body));
    ids.push(...page.body.items.map((item: { id: string }) => item.id));
    if (page.body.nextCursor === at && page.body.items.length === 0) return { ids, cursor: at! };
    at = page.body.nextCursor;
    if (page.body.items.length === 0) return { ids, cursor: at! };
  }
}

/**
 * Reads from `cursor` until the leads read include `ids` (or 20 s pass). A
 * committed lead is read once every older transaction still running on the
 * database server has ended: on this shared test server, other suites' for a
 * moment.
 */
async function readUntil(key: string, cursor: string, ids: string[], query = ''): Promise<{ ids: string[]; cursor: string }> {
  const read: string[] = [];
  let at = cursor;
  const deadline = Date.now() + 20_000;
  while (!ids.every((id) => read.includes(id)) && Date.now() < deadline) {
    const page = await drain(key, at, query);
    read.push(...page.ids);
    at = page.cursor;
    if (page.ids.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { ids: read, cursor: at };
}

test.serial('the cursor: oldest first, every page with a nextCursor, an empty page hands back the cursor it was given', async (t) => {
  const start = await drain(reader, undefined);
  const first = (await post(creator, lead({ source: 'cursor-order' }))).body;
  const second = (await post(creator, lead({ source: 'cursor-order' }))).body;
  await readUntil(reader, start.cursor, [first.id, second.id]);
  const page = await list(reader, `?cursor=${start.cursor}`);
  t.deepEqual(page.body.items.map((item: { id: string }) => item.id), [first.id, second.id]);
  t.like(page.body.items[0], { id: first.id, firstName: 'Rea', status: 'lead', facilityId: DEMO.demoFitness.id });
  const empty = await list(reader, `?cursor=${page.body.nextCursor}`);
  t.deepEqual(empty.body, { items: [], nextCursor: page.body.nextCursor });
  // Filters: the source, the location, the time.
  t.deepEqual((await drain(reader, undefined, '&source=cursor-order')).ids, [first.id, second.id]);
  t.deepEqual((await drain(reader, undefined, `&createdSince=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).ids, []);
  const downtown = (await post(downtownOnly.key, lead())).body;
  const downtownLeads = await readUntil(reader, start.cursor, [downtown.id], `&locationId=${DOWNTOWN}`);
  const rows = await server.db('members').whereIn('id', downtownLeads.ids).pluck('location_id');
  t.true(rows.length > 0 && rows.every((id: string) => id === DOWNTOWN));
  // A key limited to Downtown reads only Downtown's, and may not ask for another.
  const limited = await drain(downtownOnly.key, undefined);
  t.true((await server.db('members').whereIn('id', limited.ids).pluck('location_id')).every((id: string) => id === DOWNTOWN));
  t.is((await list(downtownOnly.key, `?locationId=${RIVERSIDE}`)).status, 403);
});

test('bad cursors, limits and filters are 400 naming the parameter', async (t) => {
  for (const [query, path] of [
    ['?cursor=nonsense', 'cursor'],
    [`?cursor=${Buffer.from('1.2.x').toString('base64url')}`, 'cursor'],
    [`?cursor=${Buffer.from(`99999999999999999999.1.${randomUUID()}`).toString('base64url')}`, 'cursor'],
    ['?cursor=a%20b', 'cursor'],
    ['?limit=0', 'limit'],
    ['?limit=201', 'limit'],
    ['?limit=ten', 'limit'],
    ['?createdSince=yesterday', 'createdSince'],
    ['?locationId=downtown', 'locationId'],
    ['?colour=red', ''],
  ] as const) {
    const answer = await list(reader, query);
    t.is(answer.status, 400, query);
    if (path) t.true(answer.body.errors.some((error: { path: string }) => error.path === path), `${query}: ${JSON.stringify(answer.body.errors)}`);
  }
});

test.serial('a CRM polling while leads are written concurrently (alone and together) reads each exactly once', async (t) => {
  const start = await drain(reader, undefined);
  const written = new Set<string>();
  let writing = true;
  const writers = Array.from({ length: 4 }, async () => {
    for (let round = 0; round < 8; round += 1) {
      const answers = await Promise.all(Array.from({ length: 5 }, () => post(creator, lead({ source: 'concurrent' }))));
      for (const answer of answers) if (answer.status === 201) written.add(answer.body.id);
    }
  });
  const seen: string[] = [];
  let cursor = start.cursor;
  const poller = (async () => {
    while (writing) {
      const page = await drain(reader, cursor, '&source=concurrent');
      seen.push(...page.ids);
      cursor = page.cursor;
    }
  })();
  await Promise.all(writers);
  writing = false;
  await poller;
  // Everything committed is read at last: the horizon passes once no older transaction runs.
  seen.push(...(await readUntil(reader, cursor, [...written].filter((id) => !seen.includes(id)), '&source=concurrent')).ids);
  t.is(written.size, 160);
  t.is(new Set(seen).size, seen.length, 'no lead read twice');
  t.deepEqual([...seen].sort(), [...written].sort(), 'every lead read');
});

// Postgres only (the Postgres suite runs it in CI): the embedded database has one connection, which the held transaction would take.
const longTransactions = heldTransactionTests(test.serial);

longTransactions('a lead whose transaction began first but commits last is never left behind a cursor already handed out', async (t) => {
  const start = await drain(reader, undefined);
  // A writer that takes its time: its lead gets the older transaction id, and commits after the next one.
  const trx = await server.db.transaction();
  const slow = randomUUID();
  try {
    await trx('members').insert({ id: slow, facility_id: DEMO.demoFitness.id, first_name: 'Slow', last_name: 'Writer', email: `slow.${slow}@example.com`, status: 'lead' });
    const quick = (await post(creator, lead())).body;
    t.truthy(quick.id);
    // Committed, but behind a transaction still running: not read yet, so the cursor cannot pass the slow one.
    const meanwhile = await drain(reader, start.cursor);
    t.false(meanwhile.ids.includes(quick.id), 'not before the older transaction ends');
    await trx.commit();
    const after = await readUntil(reader, meanwhile.cursor, [slow, quick.id]);
    t.deepEqual(after.ids.filter((id) => id === slow || id === quick.id), [slow, quick.id], 'both, the older first');
  } finally {
    if (!trx.isCompleted()) await trx.rollback();
  }
});
