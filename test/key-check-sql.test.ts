import { randomUUID } from 'node:crypto';

import test from 'ava';

import { createLeadStore, type NewLead } from '../src/leads/store.js';
import { hashToken } from '../src/oauth/token-hash.js';
import { LEADS_CREATE } from '../src/api-keys/scopes.js';
import { createKey, introspect } from './helpers/keys.js';
import { signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

// The in-statement key check must never accept a key that introspection
// refuses. Each case breaks one thing about a live key, straight in storage,
// and the one-statement insert must then write nothing.

let server: TestServer;
let owner: string;

test.before(async () => {
  server = await startTestServer();
  owner = await signIn(server, 'owner@demo.test');
});
test.after.always(async () => {
  await server?.close();
});

const newLead = (): NewLead => ({
  id: randomUUID(),
  locationId: null,
  firstName: 'Check',
  lastName: 'Sql',
  email: `check.${randomUUID()}@example.com`,
  phone: null,
  source: null,
  notes: null,
});

async function liveKey(name: string) {
  const created = await createKey(server, owner, name);
  const tokenHash = hashToken(created.key);
  const token = () => server.db('oidc_payloads').where({ model: 'AccessToken', id: tokenHash });
  return { ...created, tokenHash, token };
}

function check(tokenHash: string, overrides: { audience?: string; scope?: string } = {}) {
  return { tokenHash, audience: overrides.audience ?? server.config.leadsApiResource, scope: overrides.scope ?? LEADS_CREATE };
}

async function insertsNothing(t: import('ava').ExecutionContext, tokenHash: string, overrides?: { audience?: string; scope?: string }) {
  const lead = newLead();
  t.is(await createLeadStore(server.db).insertCheckedByKey(lead, check(tokenHash, overrides)), undefined);
  t.is(await server.db('members').where({ id: lead.id }).first(), undefined);
}

test('a live key: one insert, in its own facility, recording the key', async (t) => {
  const key = await liveKey('Live');
  const lead = newLead();
  const written = await createLeadStore(server.db).insertCheckedByKey(lead, check(key.tokenHash));
  t.like(written, { id: lead.id, facilityId: DEMO.demoFitness.id, status: 'lead' });
  const row = await server.db('members').where({ id: lead.id }).first();
  t.is(row.created_by_key, key.id);
});

test('another audience or another scope asked for: nothing', async (t) => {
  const key = await liveKey('Asked otherwise');
  await insertsNothing(t, key.tokenHash, { audience: server.config.adminApiResource });
  await insertsNothing(t, key.tokenHash, { scope: 'members:read' });
});

const breakages: Array<[string, (key: Awaited<ReturnType<typeof liveKey>>) => Promise<unknown>]> = [
  ['the token row is gone', (key) => key.token().delete()],
  ['the token is expired (expires_at)', (key) => key.token().update({ expires_at: server.db.raw(`now() - interval '1 second'`) })],
  ['the token is expired (exp in the payload)', (key) => key.token().update({ payload: server.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::int - 1))`) })],
  ['the token was consumed', (key) => key.token().update({ consumed_at: server.db.fn.now() })],
  ['the token belongs to a grant', (key) => key.token().update({ grant_id: 'some-grant' })],
  ['the token was minted for another client', (key) => key.token().update({ payload: server.db.raw(`jsonb_set(payload, '{clientId}', '"octiv-app"')`) })],
  ['the token is for another audience', (key) => key.token().update({ payload: server.db.raw(`jsonb_set(payload, '{aud}', to_jsonb(?::text))`, [server.config.adminApiResource]) })],
  ['the token lacks the scope', (key) => key.token().update({ payload: server.db.raw(`jsonb_set(payload, '{scope}', '"members:read"')`) })],
  ['the token names another key', (key) => key.token().update({ payload: server.db.raw(`jsonb_set(payload, '{extra,key_id}', to_jsonb(?::text))`, [randomUUID()]) })],
  ['the token names another facility', (key) => key.token().update({ payload: server.db.raw(`jsonb_set(payload, '{extra,facility_id}', to_jsonb(?::text))`, [DEMO.otherGym.id]) })],
  ['the key is tombstoned', (key) => server.db('api_keys').where({ id: key.id }).update({ deleted_at: server.db.fn.now() })],
  ['the key has expired', (key) => server.db('api_keys').where({ id: key.id }).update({ expires_at: server.db.raw(`now() - interval '1 second'`) })],
];

for (const [what, breakIt] of breakages) {
  test(`${what}: nothing is written`, async (t) => {
    const key = await liveKey(what.slice(0, 90));
    await breakIt(key);
    await insertsNothing(t, key.tokenHash);
  });
}

test('an audience list that holds the Leads API is accepted, as introspection accepts it', async (t) => {
  const key = await liveKey('Audience list');
  await key.token().update({ payload: server.db.raw(`jsonb_set(payload, '{aud}', jsonb_build_array(?::text, ?::text))`, [server.config.adminApiResource, server.config.leadsApiResource]) });
  t.true((await introspect(server, key.key)).body.active as boolean);
  const lead = newLead();
  t.truthy(await createLeadStore(server.db).insertCheckedByKey(lead, check(key.tokenHash)));
});
