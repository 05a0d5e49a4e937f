import { createHash, randomUUID } from 'node:crypto';

import test from 'ava';

import { LEADS_CREATE } from '../src/api-keys/scopes.js';
import { isDatabaseUnavailable } from '../src/db/errors.js';
import { createLeadWriter } from '../src/leads/writer.js';
import { hashToken } from '../src/shared/token-hash.js';
import { canonicalText, createIdempotency, EffectExists, fingerprintOf, RETENTION_HOURS, STALE_AFTER_MS } from '../src/idempotency/service.js';
import { createIdempotencyStore } from '../src/idempotency/store.js';
import { heldTransactionTests } from './helpers/database.js';
import { eventually } from './helpers/eventually.js';
import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let key: string;
let keyId: string;
let otherKey: string;
let seq = 0;

test.before(async () => {
  server = await startTestServer();
  const owner = await signIn(server, 'owner@demo.test');
  ({ key, id: keyId } = await createKey(server, owner, 'CRM'));
  ({ key: otherKey } = await createKey(server, await signIn(server, 'owner@other.test'), 'Other CRM'));
});
test.after.always(async () => {
  await server?.close();
});

const unique = (prefix = 'lead') => `${prefix}.${Date.now()}.${(seq += 1)}@example.com`;
const leadBody = (overrides: Record<string, unknown> = {}) => ({ firstName: 'Ada', lastName: 'Lovelace', email: unique(), ...overrides });
const lead = leadBody;
const post = (body: unknown, options: { token?: string; headers?: Record<string, string> } = {}) =>
  api(server, '/api/v1/leads', { token: options.token ?? key, body, headers: options.headers });

test('201 with the lead, a Location header, and the lead in the key\'s facility', async (t) => {
  const body = lead({ phone: '+1 (555) 010-2000', locationId: DEMO.demoFitness.locations[1].id, source: 'Landing page', notes: 'Wants a trial' });
  const response = await post(body);
  t.is(response.status, 201);
  t.is(response.headers.get('location'), `/api/v1/leads/${response.body.id}`);
  t.is(response.headers.get('idempotent-replayed'), null);
  t.deepEqual(response.body, {
    id: response.body.id,
    facilityId: DEMO.demoFitness.id,
    locationId: DEMO.demoFitness.locations[1].id,
    firstName: 'Ada',
    lastName: 'Lovelace',
    email: body.email,
    phone: '+1 (555) 010-2000',
    source: 'Landing page',
    notes: 'Wants a trial',
    status: 'lead',
    createdAt: response.body.createdAt,
  });
  const row = await server.db('members').where({ id: response.body.id }).first();
  t.is(row.facility_id, DEMO.demoFitness.id);
  t.is(row.created_by_key, keyId, 'the lead records the key that created it');
});

test('the Location of a 201 serves the lead to the key that created it; to any other key it is 404', async (t) => {
  const created = await post(lead({ source: 'Landing page' }));
  const location = created.headers.get('location')!;
  const mine = await api(server, location, { token: key });
  t.is(mine.status, 200);
  t.deepEqual(mine.body, created.body);
  t.is(mine.headers.get('location'), null);
  const theirs = await api(server, location, { token: otherKey });
  t.is(theirs.status, 404);
  t.is((await api(server, `/api/v1/leads/${crypto.randomUUID()}`, { token: key })).status, 404);
  t.is((await api(server, '/api/v1/leads/not-an-id', { token: key })).status, 404);
  const noKey = await api(server, location);
  t.is(noKey.status, 401);
});

test('optional fields may be left out (and blank counts as absent)', async (t) => {
  const response = await post(lead({ phone: '', source: '  ' }));
  t.is(response.status, 201);
  t.like(response.body, { locationId: null, phone: null, source: null, notes: null });
});

test('validation: 400 naming each bad field and the rule; nothing is written', async (t) => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ firstName: undefined }, 'firstName', /is required/],
    [{ firstName: '  ' }, 'firstName', /must not be empty/],
    [{ lastName: 'x'.repeat(101) }, 'lastName', /at most 100 characters/],
    [{ email: 'not-an-email' }, 'email', /valid email/],
    [{ email: `${'a'.repeat(250)}@x.io` }, 'email', /at most 254 characters/],
    [{ email: 42 }, 'email', /must be a string/],
    [{ phone: 'x'.repeat(33) }, 'phone', /at most 32 characters/],
    [{ phone: 'call me' }, 'phone', /only digits/],
    [{ locationId: 'downtown' }, 'locationId', /location of this facility/],
    [{ source: 's'.repeat(101) }, 'source', /at most 100 characters/],
    [{ notes: 'n'.repeat(2001) }, 'notes', /at most 2000 characters/],
    [{ status: 'active' }, 'status', /is not a known field/],
    [{ facilityId: DEMO.otherGym.id }, 'facilityId', /is not a known field/],
  ];
  for (const [overrides, path, message] of cases) {
    const body = lead(overrides);
    const response = await post(body);
    t.is(response.status, 400, JSON.stringify(overrides));
    t.is(response.headers.get('content-type'), 'application/problem+json');
    const error = response.body.errors?.find((item: { path: string }) => item.path === path);
    t.truthy(error, `${JSON.stringify(overrides)} names ${path}: ${JSON.stringify(response.body.errors)}`);
    t.regex(error?.message ?? '', message);
    if (typeof body.email === 'string') t.is(await server.db('members').where({ email: body.email }).first(), undefined);
  }
  const several = await post({ firstName: '', email: 'x' });
  t.deepEqual(several.body.errors.map((error: { path: string }) => error.path).sort(), ['email', 'firstName', 'lastName']);
});

test('control characters: 400 naming the field (a NUL byte never reaches the database); notes keep tabs and line breaks', async (t) => {
  for (const [field, value] of [['firstName', 'Ada\u0000'], ['lastName', 'Love\u0007lace'], ['source', 'web\u0000'], ['notes', 'call\u0000back']] as const) {
    const response = await post(lead({ [field]: value }));
    t.is(response.status, 400, field);
    t.deepEqual(response.body.errors.map((error: { path: string }) => error.path), [field]);
    t.regex(response.body.errors[0].message, /control characters/);
  }
  const multiline = await post(lead({ notes: 'Call back:\n\tMonday\r\n\tTuesday' }));
  t.is(multiline.status, 201);
  t.is(multiline.body.notes, 'Call back:\n\tMonday\r\n\tTuesday');
});

test('malformed JSON 400, not JSON 415, over 16 KiB 413', async (t) => {
  const malformed = await post('{"firstName":');
  t.is(malformed.status, 400);
  t.like(malformed.body, { status: 400, detail: 'The request body is not valid JSON.' });
  const form = await post('firstName=Ada', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  t.is(form.status, 415);
  const text = await post('hello', { headers: { 'Content-Type': 'text/plain' } });
  t.is(text.status, 415);
  const big = await post(lead({ notes: 'n'.repeat(17 * 1024) }));
  t.is(big.status, 413);
  t.is(big.headers.get('content-type'), 'application/problem+json');
  // Just under the limit is fine (and then validation speaks).
  const underLimit = await post(lead({ notes: 'n'.repeat(2000) }));
  t.is(underLimit.status, 201);
});

test('an email already a member of the facility (any case) is 409 with its leadId', async (t) => {
  const email = unique('dup');
  const first = await post(lead({ email }));
  t.is(first.status, 201);
  const again = await post(lead({ email: email.toUpperCase(), firstName: 'Other' }));
  t.is(again.status, 409);
  t.is(again.body.leadId, first.body.id);
  t.regex(again.body.detail, /already exists/);
  t.is((await server.db('members').whereRaw('lower(email) = ?', [email]).count('* as n').first())?.n, 1);
  // The same email in another facility is a different member.
  t.is((await post(lead({ email }), { token: otherKey })).status, 201);
});

test('a key of facility A can never create a lead in B', async (t) => {
  const response = await post(lead({ locationId: DEMO.otherGym.locations[0].id }));
  t.is(response.status, 400);
  t.is(response.body.errors[0].path, 'locationId');
  const created = await post(lead(), { token: otherKey });
  t.is(created.body.facilityId, DEMO.otherGym.id);
  t.is((await server.db('members').where({ id: created.body.id }).first()).facility_id, DEMO.otherGym.id);
});

test('200 concurrent creates are all answered 201 and all in the database', async (t) => {
  const bodies = Array.from({ length: 200 }, () => lead());
  const responses = await Promise.all(bodies.map((body) => post(body)));
  t.deepEqual([...new Set(responses.map((response) => response.status))], [201]);
  const stored = await server.db('members').whereIn('email', bodies.map((body) => body.email)).count('* as n').first();
  t.is(Number(stored?.n), 200);
});

test.serial('a lead that cannot start being written within the wait limit gets a 503 and is never written', async (t) => {
  // One write slot, held up by a lock on the table: the leads behind it wait, past a short limit.
  const writer = createLeadWriter(server.services.database.fast, { concurrentWrites: 1, waitLimitMs: 200 });
  const needs = server.services.requirements.of(LEADS_CREATE);
  const newLead = () => ({ id: randomUUID(), locationId: null, firstName: 'Wa', lastName: 'It', email: unique('wait'), phone: null, source: null, notes: null });
  const leads = [newLead(), newLead(), newLead()];
  const trx = await server.db.transaction();
  try {
    await trx.raw('lock table members in share mode');
    const first = writer.insertLive(leads[0]!, hashToken(key), needs);
    // The leads of one turn go together: the first takes the slot in a turn of its own, and its statement waits on the lock.
    await new Promise((resolve) => setImmediate(resolve));
    const late = await Promise.allSettled([writer.insertLive(leads[1]!, hashToken(key), needs), writer.insertLive(leads[2]!, hashToken(key), needs)]);
    for (const outcome of late) {
      t.is(outcome.status, 'rejected');
      t.true(isDatabaseUnavailable((outcome as PromiseRejectedResult).reason), 'answered 503');
    }
    await trx.rollback();
    t.like(await first, { id: leads[0]!.id, status: 'lead' }, 'the lead being written when the lock went is written');
  } finally {
    if (!trx.isCompleted()) await trx.rollback();
  }
  t.deepEqual(await server.db('members').whereIn('id', leads.map((lead) => lead.id)).pluck('id'), [leads[0]!.id]);
});

/**
 * Watches this test's many-leads statements (found by their emails: other tests write at the same time) and
 * records how many leads each held. `track` marks a body as this test's.
 */
function watchLeadStatements(matches: (statement: { text: string; name?: string }) => boolean) {
  const together: number[] = [];
  const mine = new Set<string>();
  const stop = server.services.database.fast.onStatement((sent) => {
    const emails = sent.values[7];
    if (matches(sent) && Array.isArray(emails) && emails.some((email) => mine.has(email as string))) together.push(emails.length);
  });
  return {
    together,
    track: <Body extends { email?: unknown }>(body: Body) => (mine.add(body.email as string), body),
    wroteTogether: () => together.some((leads) => leads > 1),
    stop,
  };
}

test('leads sent at once are written together, in few statements, each checked and answered as it would be alone', async (t) => {
  // A server that writes leads one statement at a time (DATABASE_POOL_MAX=2 gives it one write slot; the pool itself is
  // the shared server's): leads arriving meanwhile wait, then go together.
  const busy = await startTestServer({ share: server, env: { DATABASE_POOL_MAX: '2' } });
  const statements = watchLeadStatements((sent) => sent.text.includes('unnest('));
  // The embedded database runs statements on this very thread: leads seldom arrive while one is written, and may all go alone.
  const writesTogether = server.config.database.kind === 'postgres';
  const lead = (overrides: Record<string, unknown> = {}) => statements.track(leadBody(overrides));
  try {
    const send = (body: unknown, token = key) => api(busy, '/api/v1/leads', { token, body });
    // A burst of 40 at once; on a loaded machine one burst may happen to arrive a lead at a time, so up to three.
    for (let burst = 1; burst <= 3; burst += 1) {
      const bodies = Array.from({ length: 40 }, () => lead());
      const answers = await Promise.all(bodies.map((body) => send(body)));
      t.deepEqual([...new Set(answers.map((answer) => answer.status))], [201]);
      const rows = await server.db('members').whereIn('id', answers.map((answer) => answer.body.id as string));
      t.is(rows.length, 40);
      t.deepEqual([...new Set(rows.map((row: { created_by_key: string }) => row.created_by_key))], [keyId]);
      t.deepEqual(answers.map((answer) => answer.body.email).sort(), bodies.map((body) => body.email).sort());
      if (!writesTogether || statements.wroteTogether()) break;
    }
    if (writesTogether) t.true(statements.wroteTogether(), `leads per statement: ${statements.together.join(',')}`);

    // Among them, leads that would each be refused alone: each gets its own answer, the rest are written.
    const owner = await signIn(server, 'owner@demo.test');
    const gone = await createKey(server, owner, 'Gone');
    t.is((await api(server, `/api/v1/api-keys/${gone.id}`, { token: owner, method: 'DELETE' })).status, 204);
    const existing = await post(lead());
    const twice = unique('twice');
    const mixed = await Promise.all([
      ...Array.from({ length: 10 }, () => send(lead())),
      send(lead({ email: existing.body.email.toUpperCase() })),
      send(lead(), gone.key),
      send(lead({ locationId: DEMO.otherGym.locations[0].id })),
      send(lead(), otherKey),
      send(lead({ email: twice })),
      send(lead({ email: twice })),
      ...Array.from({ length: 10 }, () => send(lead())),
    ]);
    const statuses = mixed.map((answer) => answer.status);
    t.deepEqual(statuses.slice(0, 14), [...Array(10).fill(201), 409, 401, 400, 201]);
    t.deepEqual(statuses.slice(16), Array(10).fill(201));
    t.is(mixed[10]!.body.leadId, existing.body.id);
    t.is(mixed[12]!.body.errors[0].path, 'locationId');
    t.is(mixed[13]!.body.facilityId, DEMO.otherGym.id);
    // The same new email twice in one burst: one is written, the other is told which lead has it.
    const pair = [mixed[14]!, mixed[15]!];
    t.deepEqual(pair.map((answer) => answer.status).sort(), [201, 409]);
    t.is(pair.find((answer) => answer.status === 409)!.body.leadId, pair.find((answer) => answer.status === 201)!.body.id);
    const written = mixed.filter((answer) => answer.status === 201).map((answer) => answer.body.id as string);
    t.is((await server.db('members').whereIn('id', written)).length, 22);
    t.is((await server.db('members').whereRaw('lower(email) = ?', [twice]).count('* as n').first())?.n, 1);
  } finally {
    statements.stop();
    await busy.close();
  }
});

test('leads with an Idempotency-Key are written together too; a retry among them is a replay, another body 422, and the rest are written', async (t) => {
  const busy = await startTestServer({ share: server, env: { DATABASE_POOL_MAX: '2' } });
  const statements = watchLeadStatements((sent) => sent.name === 'leads_insert_live_many_once');
  const keyed = () => ({ body: statements.track(leadBody()), headers: { 'Idempotency-Key': `burst-${(seq += 1)}` } });
  try {
    const send = (request: { body: unknown; headers: Record<string, string> }) => api(busy, '/api/v1/leads', { token: key, ...request });
    const used = keyed();
    const first = await send(used);
    t.is(first.status, 201);
    const reused = { body: leadBody(), headers: keyed().headers };
    t.is((await send(reused)).status, 201);
    // A burst; on a loaded machine one may happen to arrive a lead at a time, so up to three on Postgres.
    for (let burst = 1; burst <= 3; burst += 1) {
      const requests = [...Array.from({ length: 15 }, keyed), used, { body: leadBody(), headers: reused.headers }, ...Array.from({ length: 15 }, keyed)];
      const answers = await Promise.all(requests.map(send));
      t.deepEqual(answers.map((answer) => answer.status), [...Array(15).fill(201), 201, 422, ...Array(15).fill(201)]);
      t.is(answers[15]!.headers.get('idempotent-replayed'), 'true');
      t.deepEqual(answers[15]!.body, first.body);
      const fresh = [...answers.slice(0, 15), ...answers.slice(17)];
      t.true(fresh.every((answer) => answer.headers.get('idempotent-replayed') === null));
      t.is((await server.db('members').whereIn('id', fresh.map((answer) => answer.body.id as string))).length, 30);
      t.is(Number((await server.db('members').where({ email: used.body.email }).count('* as n').first())?.n), 1);
      // Each lead written together has its record: its retry is a replay of its first answer.
      for (const index of [0, 14, 17, 31]) {
        const again = await send(requests[index]!);
        t.is(again.headers.get('idempotent-replayed'), 'true', `retry of ${index}`);
        t.deepEqual(again.body, answers[index]!.body);
      }
      if (server.config.database.kind !== 'postgres' || statements.wroteTogether()) break;
    }
    if (server.config.database.kind === 'postgres') t.true(statements.wroteTogether(), `leads per statement: ${statements.together.join(',')}`);
  } finally {
    statements.stop();
    await busy.close();
  }
});

test('Idempotency-Key: the same body replays the first response', async (t) => {
  const idempotencyKey = `retry-${seq += 1}`;
  const body = lead();
  const first = await post(body, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(first.status, 201);
  t.is(first.headers.get('idempotent-replayed'), null);
  const again = await post({ ...body }, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(again.status, 201);
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(again.headers.get('location'), first.headers.get('location'));
  t.deepEqual(again.body, first.body);
  t.is(Number((await server.db('members').where({ email: body.email }).count('* as n').first())?.n), 1);
});

test('Idempotency-Key: a replay is the first response to the millisecond, for lead after lead', async (t) => {
  // The first response is built from the row the insert returned, a replay from the lead's row as read back.
  const firsts = await Promise.all(
    Array.from({ length: 40 }, async (_, index) => {
      const idempotencyKey = `millis-${seq += 1}-${index}`;
      const body = lead();
      return { idempotencyKey, body, response: await post(body, { headers: { 'Idempotency-Key': idempotencyKey } }) };
    }),
  );
  for (const { idempotencyKey, body, response } of firsts) {
    t.is(response.status, 201);
    const again = await post(body, { headers: { 'Idempotency-Key': idempotencyKey } });
    t.is(again.headers.get('idempotent-replayed'), 'true');
    t.deepEqual(again.body, response.body);
    t.is(again.headers.get('location'), response.headers.get('location'));
  }
});

test('Idempotency-Key with another body is 422 and writes nothing', async (t) => {
  const idempotencyKey = `reuse-${seq += 1}`;
  t.is((await post(lead(), { headers: { 'Idempotency-Key': idempotencyKey } })).status, 201);
  const other = lead();
  const response = await post(other, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(response.status, 422);
  t.regex(response.body.detail, /different request body/);
  t.is(await server.db('members').where({ email: other.email }).first(), undefined);
});

test('Idempotency-Key while the first request is in flight is 409; an abandoned one is taken over', async (t) => {
  const idempotencyKey = `flight-${seq += 1}`;
  const body = lead();
  const { fingerprintOf } = await import('../src/idempotency/service.js');
  const store = createIdempotencyStore(server.db);
  // The state a first attempt leaves while it runs: claimed, not completed.
  t.true(await store.claim(keyId, idempotencyKey, fingerprintOf('POST', '/api/v1/leads', { ...body })));
  const busy = await post(body, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(busy.status, 409);
  t.is(busy.headers.get('retry-after'), '1');
  // Its process died long ago: a retry takes over and completes it.
  await server.db('idempotency_records')
    .where({ api_key_id: keyId, idempotency_key: idempotencyKey })
    .update({ started_at: new Date(Date.now() - STALE_AFTER_MS - 5_000) });
  const retried = await post(body, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(retried.status, 201);
  t.is((await post(body, { headers: { 'Idempotency-Key': idempotencyKey } })).headers.get('idempotent-replayed'), 'true');
});

test('20 concurrent retries with one Idempotency-Key make exactly one lead and no 5xx', async (t) => {
  const idempotencyKey = `storm-${seq += 1}`;
  const body = lead();
  const responses = await Promise.all(Array.from({ length: 20 }, () => post(body, { headers: { 'Idempotency-Key': idempotencyKey } })));
  const statuses = responses.map((response) => response.status);
  t.true(statuses.every((status) => status === 201 || status === 409), statuses.join(','));
  t.true(statuses.includes(201));
  const ids = new Set(responses.filter((response) => response.status === 201).map((response) => response.body.id));
  t.is(ids.size, 1, 'every 201 names the same lead');
  t.is(Number((await server.db('members').where({ email: body.email }).count('* as n').first())?.n), 1);
});

test('a kept client error stops a first attempt: the same key with another body is 422 and writes nothing, with the same body a replay', async (t) => {
  const taken = await post(lead());
  const idempotencyKey = `refused-${seq += 1}`;
  const refused = lead({ email: taken.body.email });
  t.is((await post(refused, { headers: { 'Idempotency-Key': idempotencyKey } })).status, 409);
  // Another body, alone and among others written together: the key's record stops it before any row is written.
  const other = lead();
  const answers = await Promise.all([other, lead(), lead()].map((body, index) => post(body, { headers: { 'Idempotency-Key': index === 0 ? idempotencyKey : `refused-${seq += 1}` } })));
  t.deepEqual(answers.map((answer) => answer.status), [422, 201, 201]);
  t.is(await server.db('members').where({ email: other.email }).first(), undefined);
  t.is(await server.db('members').where({ created_by_key: keyId, idempotency_key: idempotencyKey }).first(), undefined);
  const again = await post(refused, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(again.status, 409);
  t.is(again.headers.get('idempotent-replayed'), 'true');
});

test('leads written together: a lead whose Idempotency-Key has a record is left out and written by no statement', async (t) => {
  const writer = createLeadWriter(server.services.database.fast, { concurrentWrites: 1 });
  const needs = server.services.requirements.of(LEADS_CREATE);
  const newLead = () => ({ id: randomUUID(), locationId: null, firstName: 'Re', lastName: 'Corded', email: unique('recorded'), phone: null, source: null, notes: null });
  const leads = [newLead(), newLead(), newLead()];
  const keys = leads.map(() => `together-${seq += 1}`);
  // The middle key is claimed: an attempt in flight.
  t.true(await createIdempotencyStore(server.db).claim(keyId, keys[1]!, 'f'));
  const statements: number[] = [];
  const stop = server.services.database.fast.onStatement((sent) => {
    if (sent.name === 'leads_insert_live_many_once' && Array.isArray(sent.values[7]) && (sent.values[7] as string[]).includes(leads[1]!.email)) statements.push((sent.values[7] as string[]).length);
  });
  try {
    // One turn: one statement for the three.
    const written = await Promise.all(leads.map((lead, index) => writer.insertLive(lead, hashToken(key), needs, { key: keys[index]!, fingerprint: 'f' })));
    t.deepEqual(written.map((lead) => lead?.id), [leads[0]!.id, undefined, leads[2]!.id]);
  } finally {
    stop();
  }
  if (server.config.database.kind === 'postgres') t.deepEqual(statements, [3], 'the three went in one statement');
  t.is(await server.db('members').where({ id: leads[1]!.id }).first(), undefined);
  t.is((await server.db('members').whereIn('id', [leads[0]!.id, leads[2]!.id]).whereNotNull('idempotency_key')).length, 2);
});

/** Resolves true once one of the server's statements that starts with `start` waits on a lock (throws after 10 s, naming it). */
async function waitsOnLock(start: string): Promise<boolean> {
  await eventually(
    async () => {
      const { rows } = (await server.db.raw(
        `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and ltrim(query) ilike ?`,
        [`${start}%`],
      )) as { rows: unknown[] };
      return rows.length > 0;
    },
    { what: `a statement starting "${start}" waiting on a lock` },
  );
  return true;
}

const postgresOnly = heldTransactionTests(test);

postgresOnly('a claimed attempt waits for a lead being written with its key by a first attempt that did not see the claim, and answers from it (422 for another body)', async (t) => {
  const idempotencyKey = `meanwhile-http-${seq += 1}`;
  const taken = await post(lead());
  // Another request's first attempt, still writing a lead with this key (its statement began before the claim).
  const other = await server.db.transaction();
  let answer: Awaited<ReturnType<typeof post>>;
  try {
    await other('members').insert({
      id: randomUUID(), facility_id: DEMO.demoFitness.id, first_name: 'Mean', last_name: 'While', email: unique('meanwhile'), status: 'lead',
      created_by_key: keyId, idempotency_key: idempotencyKey, request_fingerprint: 'another body',
    });
    // This request's body has a taken email: its first attempt fails on that, it claims the key, and its attempt meets the lead being written.
    const pending = post(lead({ email: taken.body.email }), { headers: { 'Idempotency-Key': idempotencyKey } });
    t.true(await waitsOnLock('with q as'), 'the claimed attempt waits for the lead being written');
    await other.commit();
    answer = await pending;
  } finally {
    if (!other.isCompleted()) await other.rollback();
  }
  t.is(answer.status, 422, 'the lead made meanwhile has another body');
  t.is(await createIdempotencyStore(server.db).find(keyId, idempotencyKey), undefined, 'no 409 kept: the claim is let go');
});

postgresOnly('a key deleted while its request waits to claim an Idempotency-Key is 401 at the claimed attempt, never an answer from the key\'s past', async (t) => {
  const owner = await signIn(server, 'owner@demo.test');
  const doomed = await createKey(server, owner, 'Doomed CRM');
  const taken = await post(lead());
  const idempotencyKey = `doomed-${seq += 1}`;
  // Another request's claim of the same key, not committed yet: this request's claim waits for it.
  const other = await server.db.transaction();
  let answer: Awaited<ReturnType<typeof post>>;
  try {
    await other('idempotency_records').insert({ api_key_id: doomed.id, idempotency_key: idempotencyKey, fingerprint: 'another request' });
    // Its first attempt fails on the taken email; it is verified (live) and then waits to claim.
    const pending = post(lead({ email: taken.body.email }), { token: doomed.key, headers: { 'Idempotency-Key': idempotencyKey } });
    t.true(await waitsOnLock('insert into "idempotency_records"'), 'the claim waits');
    t.is((await api(server, `/api/v1/api-keys/${doomed.id}`, { token: owner, method: 'DELETE' })).status, 204);
    await other.rollback();
    answer = await pending;
  } finally {
    if (!other.isCompleted()) await other.rollback();
  }
  // The claimed attempt's statement refuses the deleted key; it is checked anew, not from the verdict the request had before.
  t.is(answer.status, 401);
  t.is(await server.db('members').where({ created_by_key: doomed.id, idempotency_key: idempotencyKey }).first(), undefined);
});

test('a claimed attempt that meets a lead made meanwhile with its key lets go of its claim and answers from that lead', async (t) => {
  const store = createIdempotencyStore(server.db);
  const idempotency = createIdempotency({ store });
  const made = { id: randomUUID() };
  for (const [label, madeMeanwhile, fingerprint] of [['same body', made, 'f1'], ['another body', made, 'f2'], ['gone', undefined, 'f1']] as const) {
    const idempotencyKey = `meanwhile-${seq += 1}`;
    let looks = 0;
    const run = idempotency.run(keyId, idempotencyKey, fingerprint, {
      // The first look finds nothing; the lead commits before the attempt's own insert.
      kept: async () => ((looks += 1) === 1 || !madeMeanwhile ? undefined : { fingerprint: 'f1', result: madeMeanwhile }),
      attempt: () => Promise.reject(new EffectExists()),
      replay: () => {
        throw new Error('no record was completed');
      },
    });
    if (label === 'same body') t.deepEqual(await run, { result: made, replayed: true });
    else await t.throwsAsync(run, { message: label === 'another body' ? /different request body/ : /just finishing/ }, label);
    t.is(await store.find(keyId, idempotencyKey), undefined, `${label}: the claim is let go`);
  }
});

test('Idempotency-Key is scoped to the API key', async (t) => {
  const idempotencyKey = `shared-${seq += 1}`;
  const a = await post(lead(), { headers: { 'Idempotency-Key': idempotencyKey } });
  const b = await post(lead(), { token: otherKey, headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(a.status, 201);
  t.is(b.status, 201);
  t.is(b.headers.get('idempotent-replayed'), null);
  t.not(a.body.id, b.body.id);
});

test('a client error is replayed too (409 email exists)', async (t) => {
  const email = unique('replay-conflict');
  const original = await post(lead({ email }));
  const idempotencyKey = `conflict-${seq += 1}`;
  const body = lead({ email });
  const first = await post(body, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(first.status, 409);
  const again = await post(body, { headers: { 'Idempotency-Key': idempotencyKey } });
  t.is(again.status, 409);
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(again.body.leadId, original.body.id);
});

test('a bad Idempotency-Key header is 400 naming it', async (t) => {
  for (const value of ['x'.repeat(256), '']) {
    const body = lead();
    const response = await api(server, '/api/v1/leads', { token: key, body, headers: { 'Idempotency-Key': value } });
    t.is(response.status, 400, `length ${value.length}`);
    t.is(response.body.errors[0].path, 'Idempotency-Key');
    t.is(await server.db('members').where({ email: body.email }).first(), undefined);
  }
  t.is((await post(lead(), { headers: { 'Idempotency-Key': 'k'.repeat(255) } })).status, 201);
});

test('a lead keeps its Idempotency-Key past the purge; records of answers with no lead are kept 24 hours, then cleaned up', async (t) => {
  // Answers with no lead of their own are records: here, a 409 for an email already a member, kept for replay.
  const taken = await post(lead());
  t.is(taken.status, 201);
  const fresh = `fresh-${seq += 1}`;
  const old = `old-${seq += 1}`;
  for (const idempotencyKey of [fresh, old]) t.is((await post(lead({ email: taken.body.email }), { headers: { 'Idempotency-Key': idempotencyKey } })).status, 409);
  // A lead keeps its own key: no record.
  const kept = `kept-${seq += 1}`;
  const body = lead();
  const first = await post(body, { headers: { 'Idempotency-Key': kept } });
  t.is(first.status, 201);
  const where = (idempotencyKey: string) => server.db('idempotency_records').where({ api_key_id: keyId, idempotency_key: idempotencyKey });
  t.is(await where(kept).first(), undefined, 'a lead written on its first attempt has no record');
  t.like(await server.db('members').where({ id: first.body.id }).first(), { idempotency_key: kept, created_by_key: keyId });
  await where(old).update({ started_at: new Date(Date.now() - (RETENTION_HOURS + 1) * 3600_000) });
  await where(fresh).update({ started_at: new Date(Date.now() - 23 * 3600_000) });
  t.true((await createIdempotencyStore(server.db).deleteOlderThan(RETENTION_HOURS)) >= 1);
  t.is(await where(old).first(), undefined);
  t.truthy(await where(fresh).first(), 'a 23-hour-old record is kept');
  t.true(RETENTION_HOURS >= 24);
  const again = await post(body, { headers: { 'Idempotency-Key': kept } });
  t.is(again.headers.get('idempotent-replayed'), 'true', 'the lead\'s key outlives the purge');
  t.deepEqual(again.body, first.body);
});

test('a request\'s fingerprint is the same text whichever way it is built: flat bodies in one pass, the rest the general way', (t) => {
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const bodies: unknown[] = [
    { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: undefined, notes: null },
    { zeta: 1, alpha: 'é', Beta: true, 'ä-key': 'x', _: '"quoted"\n' },
    {},
    { nested: { b: 1, a: [2, { d: 1, c: undefined }] }, first: 'x' },
    // Keys an object orders first (array indexes), and values JSON.stringify would turn through toJSON.
    { b: 1, 10: 'ten', 9: 'nine', a: 2 },
    { at: new Date(0), name: 'x' },
    Object.assign(Object.create({ toJSON: () => 'inherited' }) as object, { own: 1 }),
    ['not', 'an', 'object'],
    'text',
    null,
  ];
  for (const body of bodies) t.is(fingerprintOf('POST', '/api/v1/leads', body), sha(canonicalText('POST', '/api/v1/leads', body)), JSON.stringify(body));
  // Key order and undefined fields do not change it; a value does.
  t.is(fingerprintOf('POST', '/p', { b: 1, a: 2, c: undefined }), fingerprintOf('POST', '/p', { a: 2, b: 1 }));
  t.not(fingerprintOf('POST', '/p', { a: 2, b: 1 }), fingerprintOf('POST', '/p', { a: 2, b: 2 }));
  // The text itself, as fingerprints stored before this change were made of it.
  t.is(canonicalText('POST', '/p', { b: 1, a: 'x', c: undefined }), '["POST","/p",{"a":"x","b":1}]');
});
