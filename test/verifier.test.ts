import { randomUUID } from 'node:crypto';

import test, { type ExecutionContext } from 'ava';

import { generateKey } from '../src/api-keys/key-format.js';
import { LEADS_CREATE } from '../src/api-keys/scopes.js';
import { createApiKeyVerifier, RULES, type Refusal, type Requirement } from '../src/api-keys/verifier.js';
import type { FastPath, Statement } from '../src/db/fast-path.js';
import { inTransaction } from '../src/db/transaction.js';
import type { NewLead } from '../src/leads/store.js';
import { createLeadWriter } from '../src/leads/writer.js';
import { hashToken } from '../src/shared/token-hash.js';
import { createKey, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

// The agreement table: every way a key can be broken, against every path that
// accepts a key. One database, three servers on it (the Leads API checking
// keys in its write, in-process, and over RFC 7662 against the first), the
// introspection endpoint, the verifier itself, the one-statement write, and
// the list. A key broken here through SQL is broken in a way no API can
// break it yet; the paths must still agree.

let inWrite: TestServer;
let inProcess: TestServer;
let remote: TestServer;
let owner: string;
let otherOwner: string;

test.before(async () => {
  inWrite = await startTestServer();
  // Instances of one deployment share its public address (and so the Leads API's audience).
  const shared = { PUBLIC_URL: inWrite.url };
  inProcess = await startTestServer({ share: inWrite, env: { ...shared, LEADS_API_KEY_CHECK: 'in-process' } });
  remote = await startTestServer({
    share: inWrite,
    env: { ...shared, LEADS_API_KEY_CHECK: 'remote', LEADS_API_INTROSPECTION_URL: `${inWrite.url}/oauth/token/introspection` },
  });
  owner = await signIn(inWrite, 'owner@demo.test');
  otherOwner = await signIn(inWrite, 'owner@other.test');
});
test.after.always(async () => {
  await remote?.close();
  await inProcess?.close();
  await inWrite?.close();
});

const requirement = (): Requirement => inWrite.services.requirements.of(LEADS_CREATE);

interface Subject {
  token: string;
  /** The key's id, when the token is (or was) a key of ours. */
  id?: string;
  /** Who lists the key (its facility's Owner; Demo Fitness by default). */
  listAs?: string;
}

async function liveKey(name: string): Promise<Subject & { id: string; hash: string; tokenRow: () => ReturnType<TestServer['db']> }> {
  const created = await createKey(inWrite, owner, name.slice(0, 100));
  const hash = hashToken(created.key);
  return { token: created.key, id: created.id, hash, tokenRow: () => inWrite.db('oidc_payloads').where({ model: 'AccessToken', id: hash }) };
}

const setPayload = (path: string, json: string, bindings: unknown[] = []) => inWrite.db.raw(`jsonb_set(payload, '{${path}}', ${json})`, bindings as never);

interface Row {
  what: string;
  /** The rule of `RULES` this row breaks (absent for breakages decided before any rule: malformed). */
  rule?: string;
  reason: Refusal;
  make(): Promise<Subject>;
}

/** A row for a live key broken by one change (through SQL where no API can break it that way yet). */
const broken = (what: string, rule: string, reason: Refusal, change: (key: Awaited<ReturnType<typeof liveKey>>) => Promise<unknown>): Row => ({
  what,
  rule,
  reason,
  make: async () => {
    const key = await liveKey(what);
    await change(key);
    return key;
  },
});

const TABLE: Row[] = [
  { what: 'malformed', reason: 'malformed', make: async () => ({ token: 'oct_pat_short' }) },
  {
    what: 'bad checksum',
    reason: 'malformed',
    make: async () => {
      const key = await liveKey('Bad checksum');
      return { token: key.token.slice(0, 20) + (key.token[20] === 'x' ? 'y' : 'x') + key.token.slice(21) };
    },
  },
  { what: 'unknown', rule: 'secret-known', reason: 'unknown', make: async () => ({ token: generateKey() }) },
  {
    what: 'deleted',
    reason: 'deleted',
    make: async () => {
      const key = await liveKey('Deleted');
      const response = await api(inWrite, `/api/v1/api-keys/${key.id}`, { token: owner, method: 'DELETE' });
      if (response.status !== 204) throw new Error(`delete answered ${response.status}`);
      return key;
    },
  },
  broken('tombstoned, its token row still present', 'key-not-deleted', 'deleted', (key) =>
    inWrite.db('api_keys').where({ id: key.id }).update({ deleted_at: inWrite.db.fn.now() }),
  ),
  broken('revoked', 'key-not-revoked', 'revoked', (key) =>
    inWrite.db('api_keys').where({ id: key.id }).update({ revoked_at: inWrite.db.fn.now(), revoked_reason: 'leaked', revoked_by_type: 'secret-scanning' }),
  ),
  broken('expired by api_keys.expires_at', 'key-not-expired', 'expired', (key) =>
    inWrite.db('api_keys').where({ id: key.id }).update({ expires_at: inWrite.db.raw(`now() - interval '1 second'`) }),
  ),
  broken('a previous secret after its grace period', 'secret-in-grace', 'rotated_out', (key) =>
    inWrite.db('api_key_secrets').where({ token_hash: key.hash }).update({ ends_at: inWrite.db.raw(`now() - interval '1 second'`) }),
  ),
  {
    what: 'expired by the facility\'s maximum lifetime',
    reason: 'expired',
    make: async () => {
      // Other Gym's policy gives every new key an expiry; the key then outlives it.
      const policy = (body: unknown) => api(inWrite, '/api/v1/settings/api-keys', { token: otherOwner, method: 'PUT', body });
      await policy({ maxLifetimeDays: 1, defaultRateLimit: { limit: 600, windowSeconds: 60 } });
      const created = await createKey(inWrite, otherOwner, 'Policy expiry');
      await policy({ maxLifetimeDays: null, defaultRateLimit: { limit: 600, windowSeconds: 60 } });
      if (!created.expiresAt) throw new Error('the policy gave the key no expiry');
      const hash = hashToken(created.key);
      const moved = `now() - interval '1 second'`;
      await inWrite.db('api_keys').where({ id: created.id }).update({ expires_at: inWrite.db.raw(moved) });
      await inWrite.db('oidc_payloads').where({ model: 'AccessToken', id: hash }).update({ expires_at: inWrite.db.raw(moved), payload: setPayload('exp', `to_jsonb(extract(epoch from ${moved})::bigint)`) });
      return { token: created.key, id: created.id, listAs: otherOwner };
    },
  },
  {
    what: 'a previous secret once its rotation grace (0 s) has ended',
    reason: 'rotated_out',
    make: async () => {
      const key = await liveKey('Rotated with no grace');
      const rotated = await api(inWrite, `/api/v1/api-keys/${key.id}/rotate`, { token: owner, body: { graceSeconds: 0 } });
      if (rotated.status !== 201) throw new Error(`rotate answered ${rotated.status}`);
      // The key itself lives on (with its new secret): the list shows it active, so check the secret alone.
      return { token: key.token };
    },
  },
  broken('token row gone, key row present', 'token-stored', 'unknown', (key) => key.tokenRow().delete()),
  broken('expired by the token row (expires_at)', 'token-not-expired', 'expired', (key) =>
    key.tokenRow().update({ expires_at: inWrite.db.raw(`now() - interval '1 second'`) }),
  ),
  broken('expired by the token\'s exp', 'token-exp', 'expired', (key) =>
    key.tokenRow().update({ payload: setPayload('exp', 'to_jsonb(extract(epoch from now())::int - 1)') }),
  ),
  broken('consumed', 'token-not-consumed', 'invalid', (key) => key.tokenRow().update({ consumed_at: inWrite.db.fn.now() })),
  broken('tied to a grant', 'token-without-grant', 'invalid', (key) => key.tokenRow().update({ grant_id: 'some-grant' })),
  broken('minted for another client', 'token-of-key-client', 'invalid', (key) => key.tokenRow().update({ payload: setPayload('clientId', `'"octiv-app"'`) })),
  broken('claims naming another key', 'token-names-key', 'invalid', (key) =>
    key.tokenRow().update({ payload: setPayload('extra,key_id', 'to_jsonb(?::text)', [randomUUID()]) }),
  ),
  broken('claims naming another facility', 'token-names-facility', 'invalid', (key) =>
    key.tokenRow().update({ payload: setPayload('extra,facility_id', 'to_jsonb(?::text)', [DEMO.otherGym.id]) }),
  ),
  broken('another audience', 'audience', 'wrong_audience', (key) =>
    key.tokenRow().update({ payload: setPayload('aud', 'to_jsonb(?::text)', [inWrite.config.adminApiResource]) }),
  ),
  broken('missing scope', 'scope', 'insufficient_scope', (key) => key.tokenRow().update({ payload: setPayload('scope', `'"members:read"'`) })),
  { what: 'a staff sign-in token', reason: 'malformed', make: async () => ({ token: await signIn(inWrite, 'owner@demo.test') }) },
];

/**
 * The location rules judge an operation at a place, not the key itself: a
 * key limited to locations is live (introspection says so, with its
 * location_ids, and the list shows it active) and refused only for an
 * operation elsewhere, or placing a lead without naming one of its several.
 */
interface LocationRow {
  what: string;
  rule: string;
  reason: Refusal;
  /** The key's locations, and the lead's. */
  keyLocations: string[];
  leadLocation: string | null;
  status: 403 | 400;
}

const [DOWNTOWN, RIVERSIDE] = DEMO.demoFitness.locations.map((location) => location.id) as [string, string];
const LOCATION_TABLE: LocationRow[] = [
  { what: 'a lead at a location outside the key\'s', rule: 'location-allowed', reason: 'location_not_allowed', keyLocations: [DOWNTOWN], leadLocation: RIVERSIDE, status: 403 },
  { what: 'a lead naming no location, the key limited to several', rule: 'location-named', reason: 'location_required', keyLocations: [DOWNTOWN, RIVERSIDE], leadLocation: null, status: 400 },
];

test('every rule of the verifier has a row in the agreement table', (t) => {
  const covered = new Set([...TABLE, ...LOCATION_TABLE].map((row) => row.rule).filter(Boolean));
  t.deepEqual(RULES.map((rule) => rule.id).filter((id) => !covered.has(id)), [], 'rules without a row');
  for (const row of [...TABLE, ...LOCATION_TABLE]) {
    if (row.rule) t.is(RULES.find((rule) => rule.id === row.rule)?.reason as Refusal | undefined, row.reason, row.what);
  }
});

for (const row of LOCATION_TABLE) {
  test(`${row.what}: refused by every path that places the lead (${row.reason}); the key itself is live`, async (t) => {
    const created = await api(inWrite, '/api/v1/api-keys', { token: owner, body: { name: `Places ${randomUUID()}`, scopes: [LEADS_CREATE], locationIds: row.keyLocations } });
    const key = created.body.key as string;
    const places = inWrite.services.requirements.of(LEADS_CREATE, { places: true });
    const lead = { ...newLead(), locationId: row.leadLocation };
    t.like(await createApiKeyVerifier(inWrite.services.database.fast).verify(key, places, { locationId: row.leadLocation }), { ok: false, reason: row.reason, keyId: created.body.id });
    const writer = createLeadWriter(inWrite.services.database.fast, { concurrentWrites: 1 });
    t.is(await writer.insert(lead, { kind: 'live', tokenHash: hashToken(key), requirement: places }), undefined, 'the one-statement write writes nothing');
    const companionKey = (await liveKey(`Companion ${randomUUID()}`)).hash;
    const [, together] = await Promise.all([writer.insertLive(newLead(), companionKey, places), writer.insertLive({ ...lead, id: randomUUID() }, hashToken(key), places)]);
    t.is(together, undefined, 'written with another lead, in one statement, it is not written');
    for (const server of [inWrite, inProcess, remote]) {
      const answer = await api(server, '/api/v1/leads', { body: { firstName: 'Agree', lastName: 'Ment', email: `agree.${randomUUID()}@example.com`, ...(row.leadLocation ? { locationId: row.leadLocation } : {}) }, headers: { Authorization: `Bearer ${key}` } });
      t.is(answer.status, row.status, `${server.config.leadsApiKeyCheck.mode}`);
      t.deepEqual(answer.body.errors.map((error: { path: string }) => error.path), ['locationId']);
    }
    t.like((await introspect(inWrite, key)).body, { active: true, location_ids: row.keyLocations });
    t.is((await api(inWrite, `/api/v1/api-keys/${created.body.id}`, { token: owner })).body.status, 'active');
    t.is((await postLead(inWrite, key)).status, row.status === 403 ? 201 : 400, 'the same key elsewhere, or without a location');
  });
}

const newLead = (): NewLead => ({
  id: randomUUID(),
  locationId: null,
  firstName: 'Agree',
  lastName: 'Ment',
  email: `agree.${randomUUID()}@example.com`,
  phone: null,
  source: null,
  notes: null,
});

const postLead = (server: TestServer, token: string) =>
  api(server, '/api/v1/leads', { body: { firstName: 'Agree', lastName: 'Ment', email: `agree.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${token}` } });

let companion: ReturnType<typeof liveKey> | undefined;
/**
 * The many-leads statement (`insertLive` under load): the subject's lead
 * written in one statement with two leads of another, live key (the leads
 * of one turn of the event loop go together); a lead that statement leaves
 * out is then tried alone.
 */
async function writtenTogether(subject: Subject) {
  const companionHash = (await (companion ??= liveKey('Companion'))).hash;
  const writer = createLeadWriter(inWrite.services.database.fast, { concurrentWrites: 1 });
  const needs = requirement();
  const leads = [newLead(), newLead(), newLead()];
  // The statements that wrote the subject's lead (other tests write at the same time: found by its id).
  const statements: { many: boolean; leads: number }[] = [];
  const stop = inWrite.services.database.fast.onStatement((sent) => {
    const ids = sent.values.flat();
    if (ids.includes(leads[1]!.id)) statements.push({ many: sent.text.includes('unnest('), leads: ids.filter((id) => leads.some((lead) => lead.id === id)).length });
  });
  try {
    const [, lead, other] = await Promise.all([
      writer.insertLive(leads[0]!, companionHash, needs),
      writer.insertLive(leads[1]!, hashToken(subject.token), needs),
      writer.insertLive(leads[2]!, companionHash, needs),
    ]);
    return { lead, other, statements };
  } finally {
    stop();
  }
}

/**
 * The verdicts statement (checks arriving together): the subject's key
 * judged in one statement with a live key, and with itself again (the same
 * secret twice is read once). Returns the subject's two verdicts and the
 * verdict statements that read its secret (none for one that is not a key).
 */
async function verifiedTogether(subject: Subject) {
  const other = await (companion ??= liveKey('Companion'));
  const verifier = createApiKeyVerifier(inWrite.services.database.fast);
  const names: string[] = [];
  const hash = hashToken(subject.token);
  const stop = inWrite.services.database.fast.onStatement((sent) => {
    if (sent.name.startsWith('api_key_verdict') && sent.values.flat().includes(hash)) names.push(sent.name);
  });
  try {
    const [first, , second] = await Promise.all([verifier.verify(subject.token, requirement()), verifier.verify(other.token, requirement()), verifier.verify(subject.token, requirement())]);
    return { first, second, names };
  } finally {
    stop();
  }
}

/** What every path says of `subject`. */
async function allPaths(subject: Subject) {
  const written = await createLeadWriter(inWrite.services.database.fast).insert(newLead(), { kind: 'live', tokenHash: hashToken(subject.token), requirement: requirement() });
  const together = await writtenTogether(subject);
  const listed = subject.id
    ? (await api(inWrite, '/api/v1/api-keys', { token: subject.listAs ?? owner })).body.items.find((item: { id: string }) => item.id === subject.id)
    : undefined;
  return {
    verifier: await createApiKeyVerifier(inWrite.services.database.fast).verify(subject.token, requirement()),
    verifiedTogether: await verifiedTogether(subject),
    oneStatementWrite: written,
    together,
    inWrite: await postLead(inWrite, subject.token),
    inProcess: await postLead(inProcess, subject.token),
    remote: await postLead(remote, subject.token),
    introspection: await introspect(inWrite, subject.token),
    listed: listed as { status: string } | undefined,
  };
}

for (const row of TABLE) {
  test(`${row.what}: refused by every path (${row.reason})`, async (t: ExecutionContext) => {
    const subject = await row.make();
    const paths = await allPaths(subject);
    t.like(paths.verifier, { ok: false, reason: row.reason }, 'the verifier names the reason');
    t.deepEqual(paths.verifiedTogether.first, paths.verifier, 'judged with other checks in one statement: the same verdict');
    t.deepEqual(paths.verifiedTogether.second, paths.verifier, 'and the same again for the same secret twice');
    t.deepEqual(paths.verifiedTogether.names, row.reason === 'malformed' ? [] : ['api_key_verdicts'], 'in one statement (none for what is not a key)');
    t.is(paths.oneStatementWrite, undefined, 'the one-statement write writes nothing');
    t.is(paths.together.lead, undefined, 'written with another lead, in one statement, it is not written');
    // Left out of that statement, it is tried alone (where it is refused again, as above).
    t.deepEqual(paths.together.statements, [{ many: true, leads: 3 }, { many: false, leads: 1 }], 'that statement, then alone');
    t.truthy(paths.together.other, 'the other key\'s lead of that statement is');
    const refusal = row.reason === 'insufficient_scope' ? 403 : 401;
    t.is(paths.inWrite.status, refusal, 'in-write');
    t.is(paths.inProcess.status, refusal, 'in-process');
    // Introspection tells a remote resource server only "inactive": it answers 401.
    t.is(paths.remote.status, 401, 'remote (RFC 7662)');
    for (const response of [paths.inWrite, paths.inProcess]) {
      t.regex(response.headers.get('www-authenticate') ?? '', refusal === 403 ? /error="insufficient_scope"/ : /error="invalid_token"/);
    }
    t.regex(paths.remote.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    t.deepEqual(paths.introspection.body, { active: false }, 'the introspection endpoint');
    if (subject.id) t.false(['active', 'rotating'].includes(paths.listed?.status ?? 'absent'), `listed as ${paths.listed?.status}`);
    // The reason reaches the log line, never the key.
    const logs = [inWrite, inProcess].flatMap((server) => server.logs).join('\n');
    t.true(logs.includes(`"refusal":"${row.reason}"`), 'the reason is logged');
    t.false(logs.includes(subject.token), 'the key is not');
  });
}

test('a live key: accepted by every path, and the one-statement write names its key and facility', async (t) => {
  const key = await liveKey('Live everywhere');
  const paths = await allPaths(key);
  t.like(paths.verifier, { ok: true, keyId: key.id, facilityId: DEMO.demoFitness.id, scopes: [LEADS_CREATE], expiresAt: undefined });
  t.deepEqual(paths.verifiedTogether.first, paths.verifier, 'judged with other checks in one statement: the same verdict');
  t.deepEqual(paths.verifiedTogether.second, paths.verifier);
  t.deepEqual(paths.verifiedTogether.names, ['api_key_verdicts'], 'in one statement');
  t.like(paths.oneStatementWrite, { facilityId: DEMO.demoFitness.id, status: 'lead' });
  t.is((await inWrite.db('members').where({ id: paths.oneStatementWrite!.id }).first()).created_by_key, key.id);
  t.like(paths.together.lead, { facilityId: DEMO.demoFitness.id, status: 'lead' }, 'written with another lead');
  t.deepEqual(paths.together.statements, [{ many: true, leads: 3 }], 'in one statement');
  t.is((await inWrite.db('members').where({ id: paths.together.lead!.id }).first()).created_by_key, key.id);
  for (const response of [paths.inWrite, paths.inProcess, paths.remote]) t.is(response.status, 201);
  t.like(paths.introspection.body, { active: true, key_id: key.id, facility_id: DEMO.demoFitness.id, scope: LEADS_CREATE });
  t.is(paths.listed?.status, 'active');
});

test('a previous secret within its rotation grace period: accepted by every path, the key listed as rotating', async (t) => {
  const key = await liveKey('Previous in grace');
  const rotated = await api(inWrite, `/api/v1/api-keys/${key.id}/rotate`, { token: owner, body: { graceSeconds: 600 } });
  t.is(rotated.status, 201);
  for (const token of [key.token, rotated.body.key as string]) {
    const paths = await allPaths({ token, id: key.id });
    t.like(paths.verifier, { ok: true, keyId: key.id });
    t.deepEqual(paths.verifiedTogether.first, paths.verifier, 'judged together: the same verdict');
    t.truthy(paths.oneStatementWrite);
    t.truthy(paths.together.lead);
    for (const response of [paths.inWrite, paths.inProcess, paths.remote]) t.is(response.status, 201);
    t.like(paths.introspection.body, { active: true, key_id: key.id });
    t.is(paths.listed?.status, 'rotating');
  }
  const previous = await createApiKeyVerifier(inWrite.services.database.fast).verify(key.token, requirement());
  t.true(previous.ok && Math.abs(previous.expiresAt! * 1000 - Date.parse(rotated.body.rotation.previousExpiresAt)) <= 1000, 'it stops when the grace ends');
});

test('an audience list that holds the Leads API is accepted by every path', async (t) => {
  const key = await liveKey('Audience list');
  await key.tokenRow().update({
    payload: inWrite.db.raw(`jsonb_set(payload, '{aud}', jsonb_build_array(?::text, ?::text))`, [inWrite.config.adminApiResource, inWrite.config.leadsApiResource]),
  });
  const paths = await allPaths(key);
  t.true(paths.verifier.ok);
  for (const response of [paths.inWrite, paths.inProcess, paths.remote]) t.is(response.status, 201);
  t.true(paths.introspection.body.active as boolean);
  t.deepEqual(paths.introspection.body.aud, [inWrite.config.adminApiResource, inWrite.config.leadsApiResource]);
});

test('checks arriving together fail closed: a verdicts statement that fails refuses every check in it, and one that loses a row refuses that check', async (t) => {
  const [live, other] = [await liveKey(`Fails together ${randomUUID()}`), await liveKey(`Fails together ${randomUUID()}`)];
  const real = inWrite.services.database.fast;
  let mode: 'fail' | 'drop-first' | 'pass' = 'fail';
  const faulty: FastPath = {
    onStatement: real.onStatement,
    async run<Row>(statement: Statement, values: readonly unknown[]): Promise<Row[]> {
      if (statement.name !== 'api_key_verdicts' || mode === 'pass') return real.run<Row>(statement, values);
      if (mode === 'fail') throw new Error('the database went away mid-statement');
      // The first check's row (`ord` 1) goes missing.
      return (await real.run<Row & { ord: string }>(statement, values)).filter((row) => String(row.ord) !== '1');
    },
  };
  const verifier = createApiKeyVerifier(faulty);
  const both = () => Promise.allSettled([verifier.verify(live.token, requirement()), verifier.verify(other.token, requirement())]);

  const failed = await both();
  t.deepEqual(failed.map((result) => result.status), ['rejected', 'rejected'], 'no check in a failed statement is accepted');
  mode = 'drop-first';
  const dropped = await both();
  t.deepEqual(dropped.map((result) => result.status === 'fulfilled' && result.value.ok), [false, true], 'a verdict the statement did not return is a refusal');
  t.like(dropped[0]!.status === 'fulfilled' ? dropped[0]!.value : {}, { ok: false, reason: 'unknown' });
  mode = 'pass';
  t.deepEqual((await both()).map((result) => result.status === 'fulfilled' && result.value.ok), [true, true], 'the verifier keeps working');
});

test('a key is never verified inside a transaction (its check runs on a connection of its own, later in the turn)', async (t) => {
  const key = await liveKey(`In a transaction ${randomUUID()}`);
  const verifier = createApiKeyVerifier(inWrite.services.database.fast);
  await t.throwsAsync(
    inTransaction(inWrite.db, () => verifier.verify(key.token, requirement())),
    { message: /inside inTransaction/ },
  );
  t.true((await verifier.verify(key.token, requirement())).ok);
});

test('introspection answers a burst of checks of live and deleted keys, each its own answer', async (t) => {
  const live = await liveKey(`Burst live ${randomUUID()}`);
  const gone = await liveKey(`Burst deleted ${randomUUID()}`);
  t.is((await api(inWrite, `/api/v1/api-keys/${gone.id}`, { token: owner, method: 'DELETE' })).status, 204);
  const tokens = Array.from({ length: 24 }, (_, index) => (index % 3 === 2 ? gone.token : live.token));
  const answers = await Promise.all(tokens.map((token) => introspect(inWrite, token)));
  t.deepEqual(
    answers.map((answer) => answer.body.active),
    tokens.map((token) => token === live.token),
  );
  t.true(answers.filter((answer) => answer.body.active).every((answer) => answer.body.key_id === live.id));
});
