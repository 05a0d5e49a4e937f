import test from 'ava';

import { isWellFormedKey } from '../src/api-keys/key-format.js';
import { createKey, dumpDatabase, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let owner: string;
let otherOwner: string;
let admin: string;

test.before(async () => {
  server = await startTestServer();
  owner = await signIn(server, 'owner@demo.test');
  otherOwner = await signIn(server, 'owner@other.test');
  admin = await signIn(server, 'admin@demo.test');
});
test.after.always(async () => {
  await server?.close();
});

const listKeys = async (token = owner) => (await api(server, '/api/v1/api-keys', { token })).body.items as { id: string; name: string }[];

test('create answers the key once, with no-store, and the list never shows it', async (t) => {
  const response = await api(server, '/api/v1/api-keys', { token: owner, body: { name: '  Landing Page Connector  ', scopes: ['leads:create'] } });
  t.is(response.status, 201);
  t.is(response.headers.get('cache-control'), 'no-store');
  t.is(response.headers.get('location'), `/api/v1/api-keys/${response.body.id}`);
  const { key, ...rest } = response.body;
  t.true(isWellFormedKey(key));
  t.like(rest, {
    name: 'Landing Page Connector',
    scopes: ['leads:create'],
    createdBy: { id: DEMO.demoFitness.staff[0].id, name: 'Olivia Owner' },
  });
  t.true(Math.abs(Date.parse(rest.createdAt) - Date.now()) < 60_000);

  const list = await api(server, '/api/v1/api-keys', { token: owner });
  t.is(list.status, 200);
  t.is(list.headers.get('cache-control'), 'no-store');
  const listed = list.body.items.find((item: { id: string }) => item.id === rest.id);
  t.deepEqual(listed, rest);
  const text = JSON.stringify(list.body);
  t.false(text.includes(key));
  t.false(text.includes(key.slice(8, -4)), 'no part of the key but the hint\'s last four characters');
  t.is(listed.hint, `oct_pat_…${key.slice(-4)}`);
  t.notRegex(text, /hash/);
});

test('the key is never stored in clear nor logged; only its SHA-256 is', async (t) => {
  const { key } = await createKey(server, owner, 'Never Stored');
  const dump = await dumpDatabase(server);
  t.false(dump.includes(key));
  t.false(dump.includes(key.slice(8, 51)), 'not the random part either');
  const { createHash } = await import('node:crypto');
  t.true(dump.includes(createHash('sha256').update(key).digest('hex')));
  // Use it, mistype it, list it: none of it reaches the log.
  await introspect(server, key);
  await api(server, '/api/v1/me', { token: key });
  await api(server, '/api/v1/api-keys', { token: owner });
  t.false(server.logs.join('\n').includes(key));
  t.false(server.logs.join('\n').includes(key.slice(8, 51)));
});

test('the list is the facility\'s live keys, newest first', async (t) => {
  const a = await createKey(server, otherOwner, 'Other A');
  const b = await createKey(server, otherOwner, 'Other B');
  const c = await createKey(server, otherOwner, 'Other C');
  await api(server, `/api/v1/api-keys/${b.id}`, { token: otherOwner, method: 'DELETE' });
  const items = (await listKeys(otherOwner)).filter((item) => item.name.startsWith('Other '));
  t.deepEqual(items.map((item) => item.name), ['Other C', 'Other A']);
  t.deepEqual(items.map((item) => item.id), [c.id, a.id]);
  t.false((await listKeys(owner)).some((item) => item.name.startsWith('Other ')), 'nothing crosses facilities');
});

test('validation: 400 naming the field and the rule, and nothing is created', async (t) => {
  const cases: [unknown, string, RegExp][] = [
    [{ scopes: ['leads:create'] }, 'name', /is required/],
    [{ name: '   ', scopes: ['leads:create'] }, 'name', /must not be empty/],
    [{ name: 'x'.repeat(101), scopes: ['leads:create'] }, 'name', /at most 100 characters/],
    [{ name: 42, scopes: ['leads:create'] }, 'name', /must be a string/],
    [{ name: 'Bell\u0007', scopes: ['leads:create'] }, 'name', /control characters/],
    [{ name: 'No scopes' }, 'scopes', /is required/],
    [{ name: 'Empty scopes', scopes: [] }, 'scopes', /at least one scope/],
    [{ name: 'Bad scope', scopes: ['leads:delete'] }, 'scopes.0', /"leads:delete" is not a known scope/],
    [{ name: 'Scope type', scopes: 'leads:create' }, 'scopes', /must be a list of scope names/],
    [{ name: 'Extra', scopes: ['leads:create'], key: 'oct_pat_mine' }, 'key', /is not a known field/],
  ];
  for (const [body, path, message] of cases) {
    const response = await api(server, '/api/v1/api-keys', { token: owner, body });
    t.is(response.status, 400, JSON.stringify(body));
    t.is(response.headers.get('content-type'), 'application/problem+json');
    t.like(response.body, { type: `${server.url}/problems/validation`, status: 400 });
    const error = response.body.errors.find((item: { path: string }) => item.path === path);
    t.truthy(error, `${JSON.stringify(body)} names ${path}`);
    t.regex(error?.message ?? '', message);
  }
  const names = cases.map(([body]) => (body as { name?: unknown }).name).filter((name): name is string => typeof name === 'string');
  t.deepEqual(await server.db('api_keys').whereIn('name', names.map((name) => name.trim())).pluck('name'), []);
});

test('malformed JSON is 400, a non-JSON body 415, an oversized body 413', async (t) => {
  const malformed = await api(server, '/api/v1/api-keys', { token: owner, body: '{"name": "x", ' });
  t.is(malformed.status, 400);
  t.regex(malformed.body.detail, /not valid JSON/);
  const form = await api(server, '/api/v1/api-keys', { token: owner, body: 'name=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  t.is(form.status, 415);
  t.is(form.headers.get('content-type'), 'application/problem+json');
  const huge = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Huge', scopes: ['leads:create'], pad: 'x'.repeat(20_000) } });
  t.is(huge.status, 413);
  t.false((await listKeys()).some((item) => item.name === 'Huge' || item.name === 'x'));
});

test('a duplicate live name is 409 (trimmed, case-insensitive); a deleted key frees its name', async (t) => {
  const first = await createKey(server, owner, 'CRM Sync');
  for (const name of ['CRM Sync', '  crm sync ']) {
    const duplicate = await api(server, '/api/v1/api-keys', { token: owner, body: { name, scopes: ['leads:create'] } });
    t.is(duplicate.status, 409, name);
    t.regex(duplicate.body.detail, /already exists/);
  }
  // Another facility may use the same name.
  t.truthy(await createKey(server, otherOwner, 'CRM Sync'));
  t.is((await api(server, `/api/v1/api-keys/${first.id}`, { token: owner, method: 'DELETE' })).status, 204);
  t.truthy(await createKey(server, owner, 'crm sync'));
});

test('two concurrent creates with one name: one 201, one 409, one key', async (t) => {
  const body = { name: 'Race Condition', scopes: ['leads:create'] };
  const responses = await Promise.all([1, 2, 3, 4].map(() => api(server, '/api/v1/api-keys', { token: owner, body })));
  const statuses = responses.map((response) => response.status).sort();
  t.deepEqual(statuses, [201, 409, 409, 409]);
  t.is((await listKeys()).filter((item) => item.name === 'Race Condition').length, 1);
  // One snapshot (other tests create keys concurrently): no stored key token lacks a live key row.
  const orphans = await server.db('oidc_payloads as p')
    .where({ 'p.model': 'AccessToken' })
    .whereRaw(`p.payload->'extra'->>'facility_id' = ?`, [DEMO.demoFitness.id])
    .whereNotExists(server.db('api_keys as k').whereRaw(`k.id::text = p.payload->'extra'->>'key_id'`).whereNull('k.deleted_at'))
    .count('* as n')
    .first();
  t.is(Number(orphans?.n), 0, 'no orphan token from the refused creates');
});

test('introspection of a key: active with its claims; after delete, only {"active": false}', async (t) => {
  const created = await createKey(server, owner, 'Introspected');
  const active = await introspect(server, created.key);
  t.is(active.status, 200);
  t.like(active.body, {
    active: true,
    scope: 'leads:create',
    client_id: 'octiv-api-keys',
    aud: server.config.leadsApiResource,
    facility_id: DEMO.demoFitness.id,
    key_id: created.id,
    token_type: 'Bearer',
    iss: server.config.issuer,
  });
  t.is(typeof active.body.iat, 'number');
  t.is(active.body.exp, undefined, 'a key without expiry has no exp');
  t.is(active.body.jti, undefined, 'the key is not echoed back');

  const deleted = await api(server, `/api/v1/api-keys/${created.id}`, { token: owner, method: 'DELETE' });
  t.is(deleted.status, 204);
  t.deepEqual((await introspect(server, created.key)).body, { active: false });
  t.false((await listKeys()).some((item) => item.id === created.id));
});

test('introspection: unknown and checksum-failing keys are inactive, the latter without a lookup', async (t) => {
  const created = await createKey(server, owner, 'Checksum');
  const mistyped = created.key.slice(0, 30) + (created.key[30] === 'a' ? 'b' : 'a') + created.key.slice(31);
  const { createHash } = await import('node:crypto');
  const mistypedHash = createHash('sha256').update(mistyped).digest('hex');
  // Other tests run concurrently: look only for a lookup of this key's hash.
  const queries: string[] = [];
  const onQuery = (query: { sql: string; bindings?: unknown[] }) => {
    if (query.bindings?.includes(mistypedHash)) queries.push(query.sql);
  };
  server.db.on('query', onQuery);
  try {
    t.deepEqual((await introspect(server, mistyped)).body, { active: false });
  } finally {
    server.db.off('query', onQuery);
  }
  t.deepEqual(queries, [], 'no token lookup');
  t.deepEqual((await introspect(server, created.key.slice(0, -6) + '000000')).body, { active: false });
  t.deepEqual((await introspect(server, `oct_pat_${'A'.repeat(49)}`)).body, { active: false });
  t.deepEqual((await introspect(server, 'anything')).body, { active: false });
});

test('introspection is refused to other clients and wrong secrets', async (t) => {
  const { key } = await createKey(server, owner, 'Introspection Auth');
  t.is((await introspect(server, key, { id: 'leads-api', secret: 'wrong' })).status, 401);
  const publicClient = await introspect(server, key, { id: 'octiv-app', secret: '' });
  t.true([400, 401].includes(publicClient.status));
  t.truthy(publicClient.body.error);
  t.deepEqual((await introspect(server, key, { id: 'octiv-api-keys', secret: '' })).body.active ?? false, false);
});

test('the revocation endpoint cannot delete a key behind the list\'s back', async (t) => {
  const created = await createKey(server, owner, 'Not Revocable');
  const response = await fetch(`${server.url}/oauth/token/revocation`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: created.key, client_id: 'octiv-api-keys' }).toString(),
  });
  t.is(response.status, 200);
  t.true((await introspect(server, created.key)).body.active as boolean);
  t.true((await listKeys()).some((item) => item.id === created.id));
});

test('delete: unknown, malformed, already deleted and another facility\'s ids are 404', async (t) => {
  const mine = await createKey(server, owner, 'Delete Me');
  const theirs = await createKey(server, otherOwner, 'Not Yours');
  for (const id of [crypto.randomUUID(), 'nope', theirs.id]) {
    const response = await api(server, `/api/v1/api-keys/${id}`, { token: owner, method: 'DELETE' });
    t.is(response.status, 404, id);
    t.is(response.body.title, 'Not found');
  }
  t.true((await introspect(server, theirs.key)).body.active as boolean, 'their key still works');
  t.is((await api(server, `/api/v1/api-keys/${mine.id}`, { token: owner, method: 'DELETE' })).status, 204);
  t.is((await api(server, `/api/v1/api-keys/${mine.id}`, { token: owner, method: 'DELETE' })).status, 404);
});

// Serial: it patches the provider for a moment (ava runs serial tests before concurrent ones).
test.serial('a creation that fails half way leaves nothing behind', async (t) => {
  const prototype = server.provider.AccessToken.prototype as unknown as { save: () => Promise<string> };
  const save = prototype.save;
  prototype.save = async function failingSave(this: unknown) {
    await save.call(this);
    throw new Error('injected fault after the token was written');
  };
  try {
    const response = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Half Way', scopes: ['leads:create'] } });
    t.is(response.status, 500);
    t.notRegex(JSON.stringify(response.body), /injected|stack|oct_pat_/);
  } finally {
    prototype.save = save;
  }
  t.is(await server.db('api_keys').where({ name: 'Half Way' }).first(), undefined);
  t.false((await listKeys()).some((item) => item.name === 'Half Way'));
  t.truthy(await createKey(server, owner, 'Half Way'), 'the name is free');
});

test('every key route: no token 401, junk token 401, no permission 403', async (t) => {
  const { id } = await createKey(server, owner, 'Guarded');
  const routes: [string, string, unknown?][] = [
    ['GET', '/api/v1/api-keys'],
    ['POST', '/api/v1/api-keys', { name: 'Nope', scopes: ['leads:create'] }],
    ['DELETE', `/api/v1/api-keys/${id}`],
  ];
  for (const [method, path, body] of routes) {
    const none = await api(server, path, { method, body });
    t.is(none.status, 401, `${method} ${path}`);
    t.is(none.headers.get('www-authenticate'), 'Bearer realm="api"');
    const junk = await api(server, path, { method, body, token: 'junk' });
    t.is(junk.status, 401);
    t.regex(junk.headers.get('www-authenticate') ?? '', /invalid_token/);
    const forbidden = await api(server, path, { method, body, token: admin });
    t.is(forbidden.status, 403, `${method} ${path} without the permission`);
    t.regex(forbidden.body.detail, /System Integrations permission/);
  }
  t.true((await listKeys()).some((item) => item.id === id));
  t.false((await listKeys()).some((item) => item.name === 'Nope'));
});

test('an API key is not a staff token', async (t) => {
  const { key } = await createKey(server, owner, 'Not Staff');
  const response = await api(server, '/api/v1/api-keys', { token: key });
  t.is(response.status, 401);
});

test('GET /scopes lists the catalogue for any signed-in staff member', async (t) => {
  const trainer = await signIn(server, 'trainer@demo.test');
  const response = await api(server, '/api/v1/scopes', { token: trainer });
  t.is(response.status, 200);
  t.deepEqual(response.body.items.map((item: { name: string }) => item.name), ['leads:create', 'leads:read']);
  for (const item of response.body.items) t.regex(item.description, /^[A-Z].{20,}\.$/, 'a sentence an Owner reads');
  t.is((await api(server, '/api/v1/scopes')).status, 401);
});
