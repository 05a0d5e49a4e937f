import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';

import test, { type ExecutionContext } from 'ava';

import { createKey } from './helpers/keys.js';
import { signIn } from './helpers/oauth.js';
import { createDocumentChecker } from './helpers/openapi-check.js';
import { DEMO, startServerBehindProxy, startTestServer, type TestServer } from './helpers/server.js';

// The API says what it answers (issue 30): representative requests for every
// operation, the happy path and each error status a client can provoke, each
// answer held to the OpenAPI document the server serves (status, content
// type, body by JSON Schema, headers). The last test checks that every answer
// the document lists was seen here, or is named with the reason it cannot be.

const partner = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const PARTNER_KEY_ID = 'walk-partner-key';
const publicKeys = JSON.stringify({
  public_keys: [{ key_identifier: PARTNER_KEY_ID, key: partner.publicKey.export({ type: 'spki', format: 'pem' }), is_current: true }],
});

const [DOWNTOWN, RIVERSIDE] = DEMO.demoFitness.locations.map((location) => location.id) as [string, string];
const [OWNER_ID, ADMIN_ID, , TRAINER_ID] = DEMO.demoFitness.staff.map((member) => member.id) as [string, string, string, string];
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const TOO_BIG = JSON.stringify({ padding: 'x'.repeat(17 * 1024) });

/** Answers no request can provoke, each with the reason (matched against `METHOD template status media-type`). */
const NOT_PROVOKED: [RegExp, string][] = [
  [/ 500 application\/problem\+json$/, 'a fault of ours: no request provokes one (test/response-guard.test.ts holds the 500 problem to the document\'s Problem)'],
  [/^GET \/leads\/\{id\} 403 /, 'every key holds leads:read or leads:create, and either one will do here: a 403 needs a scope the catalogue does not have yet'],
];

let server: TestServer;
let checker: ReturnType<typeof createDocumentChecker>;
const seen = new Set<string>();
let owner: string;
let admin: string;
let trainer: string;

test.before(async () => {
  server = await startTestServer({ env: { SECRET_SCANNING_PUBLIC_KEYS: publicKeys } });
  const document = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as Record<string, unknown>;
  checker = createDocumentChecker(document);
  [owner, admin, trainer] = (await Promise.all(['owner@demo.test', 'admin@demo.test', 'trainer@demo.test'].map((email) => signIn(server, email)))) as [string, string, string];
});
test.after.always(async () => {
  await server?.close();
});

interface Call {
  /** The path with its parameters filled in (default: the template). */
  path?: string;
  token?: string;
  body?: unknown;
  /** A body sent as it is, with the headers given. */
  raw?: string;
  headers?: Record<string, string>;
}

/** Sends one request for `operation` (`METHOD /template`) to `target`, expects `status`, and holds the answer to the document. */
async function walk(t: ExecutionContext, operation: string, status: number, call: Call = {}, target = server) {
  const [method, template] = operation.split(' ') as [string, string];
  const headers: Record<string, string> = {
    ...(call.token ? { Authorization: `Bearer ${call.token}` } : {}),
    ...(call.body === undefined ? {} : { 'Content-Type': 'application/json' }),
    ...call.headers,
  };
  const path = call.path ?? template;
  const response = await fetch(`${target.url}/api/v1${path}`, { method, headers, body: call.raw ?? (call.body === undefined ? undefined : JSON.stringify(call.body)) });
  const text = await response.text();
  t.is(response.status, status, `${operation} (${path}) answered ${response.status}: ${text.slice(0, 300)}`);
  const { problems, mediaType } = checker.check({ method, template, status: response.status, headers: response.headers, text });
  t.deepEqual(problems, [], `${operation} ${response.status}: what the document does not say`);
  seen.add(`${method} ${template} ${response.status} ${mediaType}`.trimEnd());
  return { headers: response.headers, body: (mediaType.endsWith('json') && text ? JSON.parse(text) : text) as any };
}

/** A leaked-key report as the partner sends it: the raw body, signed. */
function signed(raw: string): Call & { headers: Record<string, string> } {
  return {
    raw,
    headers: {
      'Content-Type': 'application/json',
      'Github-Public-Key-Identifier': PARTNER_KEY_ID,
      'Github-Public-Key-Signature': sign('sha256', Buffer.from(raw), { key: partner.privateKey, dsaEncoding: 'der' }).toString('base64'),
    },
  };
}

/** The same request as a body over the limit, and as text instead of JSON. */
async function walkBodyLimits(t: ExecutionContext, operation: string, call: Call) {
  await walk(t, operation, 413, { ...call, raw: TOO_BIG, headers: { 'Content-Type': 'application/json' } });
  await walk(t, operation, 415, { ...call, raw: 'not json', headers: { 'Content-Type': 'text/plain' } });
}

test.serial('staff: who am I, the staff list, the access switch, scopes and locations', async (t) => {
  await walk(t, 'GET /me', 200, { token: owner });
  await walk(t, 'GET /me', 401);
  await walk(t, 'GET /staff', 200, { token: owner });
  await walk(t, 'GET /staff', 401, { token: 'not-a-token' });
  await walk(t, 'GET /staff', 403, { token: trainer });
  const access = (id: string) => `/staff/${id}/access`;
  const granted = await walk(t, 'PUT /staff/{staffId}/access', 200, { path: access(TRAINER_ID), token: owner, body: { systemIntegrations: true } });
  t.true(granted.body.warnings.length > 0, 'granting it to a trainer warns');
  await walk(t, 'PUT /staff/{staffId}/access', 200, { path: access(TRAINER_ID), token: owner, body: { systemIntegrations: false } });
  await walk(t, 'PUT /staff/{staffId}/access', 400, { path: access(TRAINER_ID), token: owner, body: { systemIntegrations: 'yes' } });
  await walk(t, 'PUT /staff/{staffId}/access', 401, { path: access(TRAINER_ID), body: { systemIntegrations: true } });
  await walk(t, 'PUT /staff/{staffId}/access', 403, { path: access(TRAINER_ID), token: admin, body: { systemIntegrations: true } });
  await walk(t, 'PUT /staff/{staffId}/access', 404, { path: access(UNKNOWN_ID), token: owner, body: { systemIntegrations: true } });
  await walk(t, 'PUT /staff/{staffId}/access', 409, { path: access(OWNER_ID), token: owner, body: { systemIntegrations: false } });
  await walkBodyLimits(t, 'PUT /staff/{staffId}/access', { path: access(ADMIN_ID), token: owner });
  await walk(t, 'GET /scopes', 200, { token: trainer });
  await walk(t, 'GET /scopes', 401);
  await walk(t, 'GET /locations', 200, { token: trainer });
  await walk(t, 'GET /locations', 401);
});

test.serial('API keys: list, create, read, rotate, end the grace period, delete', async (t) => {
  await walk(t, 'GET /api-keys', 200, { token: owner });
  await walk(t, 'GET /api-keys', 401);
  await walk(t, 'GET /api-keys', 403, { token: admin });
  const created = await walk(t, 'POST /api-keys', 201, { token: owner, body: { name: 'Walk CRM', scopes: ['leads:create'] } });
  t.is(created.headers.get('location'), `/api/v1/api-keys/${created.body.id}`);
  t.is(created.headers.get('cache-control'), 'no-store');
  await walk(t, 'POST /api-keys', 400, { token: owner, body: { name: 'Walk CRM 2', scopes: ['leads:everything'] } });
  await walk(t, 'POST /api-keys', 401, { body: { name: 'Walk CRM 2', scopes: ['leads:create'] } });
  await walk(t, 'POST /api-keys', 403, { token: admin, body: { name: 'Walk CRM 2', scopes: ['leads:create'] } });
  await walk(t, 'POST /api-keys', 409, { token: owner, body: { name: 'Walk CRM', scopes: ['leads:create'] } });
  await walkBodyLimits(t, 'POST /api-keys', { token: owner });

  const key = (suffix = '') => `/api-keys/${created.body.id}${suffix}`;
  await walk(t, 'GET /api-keys/{id}', 200, { path: key(), token: owner });
  await walk(t, 'GET /api-keys/{id}', 401, { path: key() });
  await walk(t, 'GET /api-keys/{id}', 403, { path: key(), token: admin });
  await walk(t, 'GET /api-keys/{id}', 404, { path: `/api-keys/${UNKNOWN_ID}`, token: owner });

  await walk(t, 'DELETE /api-keys/{id}/previous', 404, { path: key('/previous'), token: owner });
  const rotated = await walk(t, 'POST /api-keys/{id}/rotate', 201, { path: key('/rotate'), token: owner, body: { graceSeconds: 3600 } });
  t.is(rotated.headers.get('cache-control'), 'no-store');
  await walk(t, 'POST /api-keys/{id}/rotate', 400, { path: key('/rotate'), token: owner, body: { graceSeconds: -1 } });
  await walk(t, 'POST /api-keys/{id}/rotate', 401, { path: key('/rotate'), body: {} });
  await walk(t, 'POST /api-keys/{id}/rotate', 403, { path: key('/rotate'), token: admin, body: {} });
  await walk(t, 'POST /api-keys/{id}/rotate', 404, { path: `/api-keys/${UNKNOWN_ID}/rotate`, token: owner, body: {} });
  await walkBodyLimits(t, 'POST /api-keys/{id}/rotate', { path: key('/rotate'), token: owner });
  await walk(t, 'DELETE /api-keys/{id}/previous', 204, { path: key('/previous'), token: owner });
  await walk(t, 'DELETE /api-keys/{id}/previous', 401, { path: key('/previous') });
  await walk(t, 'DELETE /api-keys/{id}/previous', 403, { path: key('/previous'), token: admin });

  await walk(t, 'DELETE /api-keys/{id}', 401, { path: key() });
  await walk(t, 'DELETE /api-keys/{id}', 403, { path: key(), token: admin });
  await walk(t, 'DELETE /api-keys/{id}', 204, { path: key(), token: owner });
  await walk(t, 'DELETE /api-keys/{id}', 404, { path: key(), token: owner });
});

test.serial('settings and the audit log (JSON and CSV)', async (t) => {
  const policy = await walk(t, 'GET /settings/api-keys', 200, { token: owner });
  await walk(t, 'GET /settings/api-keys', 401);
  await walk(t, 'GET /settings/api-keys', 403, { token: trainer });
  const { maxLifetimeDays, defaultRateLimit } = policy.body;
  await walk(t, 'PUT /settings/api-keys', 200, { token: owner, body: { maxLifetimeDays, defaultRateLimit } });
  await walk(t, 'PUT /settings/api-keys', 400, { token: owner, body: { maxLifetimeDays: 0, defaultRateLimit } });
  await walk(t, 'PUT /settings/api-keys', 401, { body: { maxLifetimeDays, defaultRateLimit } });
  await walk(t, 'PUT /settings/api-keys', 403, { token: admin, body: { maxLifetimeDays, defaultRateLimit } });
  await walkBodyLimits(t, 'PUT /settings/api-keys', { token: owner });

  await walk(t, 'GET /audit-events', 200, { path: '/audit-events?limit=2', token: owner });
  const csv = await walk(t, 'GET /audit-events', 200, { path: '/audit-events?limit=1', token: owner, headers: { Accept: 'text/csv' } });
  t.regex(csv.body, /^id,occurredAt,action,/);
  t.regex(csv.headers.get('link') ?? '', /rel="next"/, 'a page of one, of several events: the next page is linked');
  await walk(t, 'GET /audit-events', 400, { path: '/audit-events?limit=0', token: owner });
  await walk(t, 'GET /audit-events', 401);
  await walk(t, 'GET /audit-events', 403, { token: admin });
});

test.serial('leaked-key reports from the secret-scanning partner', async (t) => {
  const operation = 'POST /secret-scanning/reports';
  const leaked = await createKey(server, owner, 'Walk leaked');
  const answer = await walk(t, operation, 200, signed(JSON.stringify([{ token: leaked.key, type: 'octiv_api_key', url: 'https://example.com/.env', source: 'content' }])));
  t.is(answer.body[0].label, 'true_positive');
  // A revoked key cannot be rotated.
  await walk(t, 'POST /api-keys/{id}/rotate', 409, { path: `/api-keys/${leaked.id}/rotate`, token: owner, body: {} });
  await walk(t, operation, 400, signed(JSON.stringify({ not: 'a list' })));
  await walk(t, operation, 401, { ...signed('[]'), headers: { ...signed('[]').headers, 'Github-Public-Key-Signature': 'AAAA' } });
  await walk(t, operation, 413, signed(JSON.stringify([{ token: 'x'.repeat(1000), type: 'y' }]).padEnd(2 * 1024 * 1024 + 1, ' ')));
  await walk(t, operation, 415, { ...signed('[]'), headers: { ...signed('[]').headers, 'Content-Type': 'text/plain' } });
});

test.serial('the Leads API: create (with its idempotency answers), list, read, and the key\'s limits', async (t) => {
  const both = (await createKey(server, owner, 'Walk both', ['leads:create', 'leads:read'])).key;
  const readOnly = (await createKey(server, owner, 'Walk reader', ['leads:read'])).key;
  const createOnly = (await createKey(server, owner, 'Walk writer', ['leads:create'])).key;
  const lead = (email: string) => ({ firstName: 'Walk', lastName: 'Er', email });
  const idempotent = { 'Idempotency-Key': randomUUID() };
  const created = await walk(t, 'POST /leads', 201, { token: both, body: lead('walk@example.com'), headers: idempotent });
  t.is(created.headers.get('location'), `/api/v1/leads/${created.body.id}`);
  const replayed = await walk(t, 'POST /leads', 201, { token: both, body: lead('walk@example.com'), headers: idempotent });
  t.is(replayed.headers.get('idempotent-replayed'), 'true');
  await walk(t, 'POST /leads', 422, { token: both, body: lead('other.walk@example.com'), headers: idempotent });
  const duplicate = await walk(t, 'POST /leads', 409, { token: both, body: lead('WALK@example.com') });
  t.is(duplicate.body.leadId, created.body.id);
  await walk(t, 'POST /leads', 400, { token: both, body: { lastName: 'Er', email: 'no.first@example.com' } });
  await walk(t, 'POST /leads', 401, { body: lead('nokey@example.com') });
  await walk(t, 'POST /leads', 403, { token: readOnly, body: lead('reader@example.com') });
  const downtown = await createLimitedKey(t, [DOWNTOWN]);
  await walk(t, 'POST /leads', 403, { token: downtown, body: { ...lead('riverside@example.com'), locationId: RIVERSIDE } });
  await walk(t, 'POST /leads', 400, { token: await createLimitedKey(t, [DOWNTOWN, RIVERSIDE]), body: lead('where@example.com') });
  await walkBodyLimits(t, 'POST /leads', { token: both });

  await walk(t, 'GET /leads', 200, { path: '/leads?limit=1', token: both });
  await walk(t, 'GET /leads', 400, { path: '/leads?limit=0', token: both });
  await walk(t, 'GET /leads', 401, { token: 'oct_pat_malformed' });
  await walk(t, 'GET /leads', 403, { token: createOnly });
  await walk(t, 'GET /leads', 403, { path: `/leads?locationId=${RIVERSIDE}`, token: downtown });
  await walk(t, 'GET /leads/{id}', 200, { path: `/leads/${created.body.id}`, token: both });
  await walk(t, 'GET /leads/{id}', 401, { path: `/leads/${created.body.id}` });
  await walk(t, 'GET /leads/{id}', 404, { path: `/leads/${UNKNOWN_ID}`, token: both });

  // A key of one request an hour: past it, every operation answers 429.
  const limited = await walk(t, 'POST /api-keys', 201, { token: owner, body: { name: 'Walk limited', scopes: ['leads:create', 'leads:read'], rateLimit: { limit: 1, windowSeconds: 3600 } } });
  const once = await walk(t, 'GET /leads', 200, { token: limited.body.key });
  t.regex(once.headers.get('ratelimit') ?? '', /^"key";r=0;t=\d+$/);
  await walk(t, 'POST /leads', 429, { token: limited.body.key, body: lead('limited@example.com') });
  await walk(t, 'GET /leads', 429, { token: limited.body.key });
  await walk(t, 'GET /leads/{id}', 429, { path: `/leads/${created.body.id}`, token: limited.body.key });
});

async function createLimitedKey(t: ExecutionContext, locationIds: string[]): Promise<string> {
  const created = await walk(t, 'POST /api-keys', 201, { token: owner, body: { name: `Walk ${locationIds.length} locations ${randomUUID().slice(0, 8)}`, scopes: ['leads:create', 'leads:read'], locationIds } });
  return created.body.key as string;
}

test.serial('webhook endpoints, their secrets, test events and deliveries; a key\'s usage', async (t) => {
  const endpoint = { url: 'http://127.0.0.1:9/walk', events: ['webhook.test'] };
  await walk(t, 'GET /webhook-endpoints', 200, { token: owner });
  await walk(t, 'GET /webhook-endpoints', 401);
  await walk(t, 'GET /webhook-endpoints', 403, { token: admin });
  const created = await walk(t, 'POST /webhook-endpoints', 201, { token: owner, body: endpoint });
  t.is(created.headers.get('cache-control'), 'no-store');
  await walk(t, 'POST /webhook-endpoints', 400, { token: owner, body: { ...endpoint, events: [] } });
  await walk(t, 'POST /webhook-endpoints', 401, { body: endpoint });
  await walk(t, 'POST /webhook-endpoints', 403, { token: admin, body: endpoint });
  await walkBodyLimits(t, 'POST /webhook-endpoints', { token: owner });
  const at = (suffix = '') => `/webhook-endpoints/${created.body.id}${suffix}`;
  const unknown = (suffix = '') => `/webhook-endpoints/${UNKNOWN_ID}${suffix}`;
  for (const [operation, suffix, method] of [
    ['GET /webhook-endpoints/{id}', '', 'get'],
    ['POST /webhook-endpoints/{id}/rotate-secret', '/rotate-secret', 'post'],
    ['POST /webhook-endpoints/{id}/test', '/test', 'post'],
    ['GET /webhook-endpoints/{id}/deliveries', '/deliveries', 'get'],
  ] as const) {
    await walk(t, operation, method === 'get' ? 200 : operation.endsWith('/test') ? 202 : 201, { path: at(suffix), token: owner });
    await walk(t, operation, 401, { path: at(suffix) });
    await walk(t, operation, 403, { path: at(suffix), token: admin });
    await walk(t, operation, 404, { path: unknown(suffix), token: owner });
  }
  await walk(t, 'GET /webhook-endpoints/{id}/deliveries', 400, { path: at('/deliveries?status=lost'), token: owner });
  const [delivery] = await server.db('webhook_deliveries').where({ endpoint_id: created.body.id }).pluck('id');
  const retry = `/webhook-deliveries/${delivery}/retry`;
  await walk(t, 'POST /webhook-deliveries/{id}/retry', 202, { path: retry, token: owner });
  await walk(t, 'POST /webhook-deliveries/{id}/retry', 401, { path: retry });
  await walk(t, 'POST /webhook-deliveries/{id}/retry', 403, { path: retry, token: admin });
  await walk(t, 'POST /webhook-deliveries/{id}/retry', 404, { path: `/webhook-deliveries/${UNKNOWN_ID}/retry`, token: owner });
  await walk(t, 'PATCH /webhook-endpoints/{id}', 200, { path: at(), token: owner, body: { enabled: false } });
  // Turned off: a test event or a retry would only fail.
  await walk(t, 'POST /webhook-endpoints/{id}/test', 409, { path: at('/test'), token: owner });
  await walk(t, 'POST /webhook-deliveries/{id}/retry', 409, { path: retry, token: owner });
  await walk(t, 'PATCH /webhook-endpoints/{id}', 400, { path: at(), token: owner, body: {} });
  await walk(t, 'PATCH /webhook-endpoints/{id}', 401, { path: at(), body: { enabled: true } });
  await walk(t, 'PATCH /webhook-endpoints/{id}', 403, { path: at(), token: admin, body: { enabled: true } });
  await walk(t, 'PATCH /webhook-endpoints/{id}', 404, { path: unknown(), token: owner, body: { enabled: true } });
  await walkBodyLimits(t, 'PATCH /webhook-endpoints/{id}', { path: at(), token: owner });
  await walk(t, 'DELETE /webhook-endpoints/{id}', 401, { path: at() });
  await walk(t, 'DELETE /webhook-endpoints/{id}', 403, { path: at(), token: admin });
  await walk(t, 'DELETE /webhook-endpoints/{id}', 204, { path: at(), token: owner });
  await walk(t, 'DELETE /webhook-endpoints/{id}', 404, { path: at(), token: owner });

  const key = await createKey(server, owner, 'Walk usage');
  const usage = (suffix = '') => `/api-keys/${key.id}/usage${suffix}`;
  await walk(t, 'GET /api-keys/{id}/usage', 200, { path: usage('?days=7'), token: owner });
  await walk(t, 'GET /api-keys/{id}/usage', 400, { path: usage('?days=91'), token: owner });
  await walk(t, 'GET /api-keys/{id}/usage', 401, { path: usage() });
  await walk(t, 'GET /api-keys/{id}/usage', 403, { path: usage(), token: admin });
  await walk(t, 'GET /api-keys/{id}/usage', 404, { path: `/api-keys/${UNKNOWN_ID}/usage`, token: owner });
});

test.serial('this document', async (t) => {
  const answer = await walk(t, 'GET /openapi.json', 200);
  t.is(answer.headers.get('cache-control'), 'public, max-age=300');
});

// Always on Postgres, whatever TEST_DATABASE says: the embedded database has no network to lose.
test.serial('with the database away, every operation that needs it answers 503 with Retry-After, as the document says', async (t) => {
  const { server: away, proxy, close } = await startServerBehindProxy({ poolMax: 2, env: { SECRET_SCANNING_PUBLIC_KEYS: publicKeys } });
  try {
    const token = await signIn(away, 'owner@demo.test');
    const created = await createKey(away, token, 'Away', ['leads:create', 'leads:read']);
    await proxy.cut();
    const staff = { token };
    const key = { token: created.key };
    const id = `/${created.id}`;
    for (const [operation, call] of [
      ['GET /me', staff], ['GET /staff', staff], ['PUT /staff/{staffId}/access', { ...staff, path: `/staff/${ADMIN_ID}/access`, body: { systemIntegrations: true } }],
      ['GET /scopes', staff], ['GET /locations', staff], ['GET /api-keys', staff], ['POST /api-keys', { ...staff, body: { name: 'Away 2', scopes: ['leads:create'] } }],
      ['GET /api-keys/{id}', { ...staff, path: `/api-keys${id}` }], ['DELETE /api-keys/{id}', { ...staff, path: `/api-keys${id}` }],
      ['POST /api-keys/{id}/rotate', { ...staff, path: `/api-keys${id}/rotate`, body: {} }], ['DELETE /api-keys/{id}/previous', { ...staff, path: `/api-keys${id}/previous` }],
      ['GET /settings/api-keys', staff], ['PUT /settings/api-keys', { ...staff, body: { maxLifetimeDays: null, defaultRateLimit: { limit: 600, windowSeconds: 60 } } }],
      ['GET /audit-events', staff], ['POST /leads', { ...key, body: { firstName: 'A', lastName: 'Way', email: 'away@example.com' } }],
      ['GET /leads', key], ['GET /leads/{id}', { ...key, path: `/leads/${UNKNOWN_ID}` }],
      ['GET /api-keys/{id}/usage', { ...staff, path: `/api-keys${id}/usage` }],
      ['GET /webhook-endpoints', staff], ['POST /webhook-endpoints', { ...staff, body: { url: 'http://127.0.0.1:9/away', events: ['*'] } }],
      ['GET /webhook-endpoints/{id}', { ...staff, path: `/webhook-endpoints/${UNKNOWN_ID}` }],
      ['PATCH /webhook-endpoints/{id}', { ...staff, path: `/webhook-endpoints/${UNKNOWN_ID}`, body: { enabled: true } }],
      ['DELETE /webhook-endpoints/{id}', { ...staff, path: `/webhook-endpoints/${UNKNOWN_ID}` }],
      ['POST /webhook-endpoints/{id}/rotate-secret', { ...staff, path: `/webhook-endpoints/${UNKNOWN_ID}/rotate-secret` }],
      ['POST /webhook-endpoints/{id}/test', { ...staff, path: `/webhook-endpoints/${UNKNOWN_ID}/test` }],
      ['GET /webhook-endpoints/{id}/deliveries', { ...staff, path: `/webhook-endpoints/${UNKNOWN_ID}/deliveries` }],
      ['POST /webhook-deliveries/{id}/retry', { ...staff, path: `/webhook-deliveries/${UNKNOWN_ID}/retry` }],
    ] as [string, Call][]) {
      const answer = await walk(t, operation, 503, call, away);
      t.is(answer.headers.get('retry-after'), '5', operation);
    }
    await walk(t, 'POST /secret-scanning/reports', 503, signed(JSON.stringify([{ token: created.key, type: 'octiv_api_key' }])), away);
    await walk(t, 'GET /openapi.json', 200, {}, away);
  } finally {
    await close();
  }
});

test.serial('the check itself fails an answer the document does not describe', (t) => {
  const headers = (entries: Record<string, string>) => new Headers({ 'Content-Type': 'application/json', ...entries });
  const me = { id: OWNER_ID, name: 'Olivia Owner', email: 'owner@demo.test', role: 'owner', permissions: { systemIntegrations: true }, facilityId: DEMO.demoFitness.id, facilityName: 'Demo Fitness' };
  const requestId = { 'X-Request-Id': randomUUID() };
  const check = (status: number, entries: Record<string, string>, body: unknown) => checker.check({ method: 'GET', template: '/me', status, headers: headers(entries), text: JSON.stringify(body) }).problems;
  t.deepEqual(check(200, requestId, me), [], 'the real shape passes');
  t.regex(check(200, requestId, { ...me, passwordHash: 'x' }).join(), /must NOT have additional properties/);
  t.regex(check(200, {}, me).join(), /header X-Request-Id is required but missing/);
  t.regex(check(200, { ...requestId, 'Retry-After': '5' }, me).join(), /header Retry-After is sent but not listed/);
  t.regex(check(418, requestId, me).join(), /418 is not listed for getMe/);
  t.regex(check(401, { ...requestId, 'WWW-Authenticate': 'Bearer realm="api"' }, me).join(), /content type application\/json is not listed \(listed: application\/problem\+json\)/);
});

test.serial('every answer the document lists was seen above, or cannot be provoked for a reason named here', (t) => {
  const missing = checker.listed().filter((answer) => !seen.has(answer) && !NOT_PROVOKED.some(([pattern]) => pattern.test(answer)));
  t.deepEqual(missing, []);
  const stale = NOT_PROVOKED.filter(([pattern]) => [...seen].some((answer) => pattern.test(answer)));
  t.deepEqual(stale.map(([pattern]) => String(pattern)), [], 'an answer named as not provokable was provoked: take it off the list');
  t.true(seen.size > 80, `${seen.size} answers seen`);
});
