import { randomUUID } from 'node:crypto';

import test from 'ava';

import { LEADS_API_DEFAULT_AUDIENCE } from '../src/config.js';
import { up as renameLegacyAudiences } from '../migrations/20261201130000_stable_leads_audience.js';
import { hashToken } from '../src/shared/token-hash.js';
import { createTestDatabase } from './helpers/database.js';
import { createKey, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// Keys name a stable resource, not a hostname: a new PUBLIC_URL must not break them.

const postLead = (server: TestServer, key: string, headers: Record<string, string> = {}) =>
  api(server, '/api/v1/leads', { body: { firstName: 'Moved', lastName: 'Server', email: `moved.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}`, ...headers } });

test('keys survive a new public address (another host, https behind a proxy); changing LEADS_API_AUDIENCE on purpose refuses them, and says so', async (t) => {
  const database = await createTestDatabase();
  try {
    const first = await startTestServer({ database });
    const { key } = await createKey(first, await signIn(first, 'owner@demo.test'), 'Moving House');
    t.is((await introspect(first, key)).body.aud, LEADS_API_DEFAULT_AUDIENCE);
    await first.close();

    const moved = await startTestServer({ database, seed: false, env: { PUBLIC_URL: 'http://crm-gateway.example.test:8080' } });
    try {
      t.is(moved.config.leadsApiResource, LEADS_API_DEFAULT_AUDIENCE);
      t.is((await postLead(moved, key)).status, 201);
      t.true((await introspect(moved, key)).body.active as boolean);
      t.false(moved.logs.some((line) => line.includes('LEADS_API_AUDIENCE')), 'no warning');
    } finally {
      await moved.close();
    }

    const proxied = await startTestServer({ database, seed: false, env: { PUBLIC_URL: 'https://auth.gym.example', TRUST_PROXY: 'true' } });
    try {
      t.is((await postLead(proxied, key, { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'auth.gym.example' })).status, 201);
      t.true((await introspect(proxied, key)).body.active as boolean);
    } finally {
      await proxied.close();
    }

    const renamed = await startTestServer({ database, seed: false, env: { LEADS_API_AUDIENCE: 'https://leads.gym.example' } });
    try {
      t.is((await postLead(renamed, key)).status, 401);
      t.deepEqual((await introspect(renamed, key)).body, { active: false });
      const warning = renamed.logs.find((line) => line.includes('"variable":"LEADS_API_AUDIENCE"'));
      t.truthy(warning, 'one clear warning at start');
      t.like(JSON.parse(warning!), { level: 'warn', refusedKeys: 1, audience: 'https://leads.gym.example' });
      const ready = await api(renamed, '/readyz');
      t.is(ready.status, 200, 'not a failure');
      t.regex(ready.body.warnings[0], /1 API key\(s\) carry another audience than LEADS_API_AUDIENCE/);
    } finally {
      await renamed.close();
    }
  } finally {
    await database.drop();
  }
});

test('keys minted with the old URL audience are renamed by the migration and keep working', async (t) => {
  const server = await startTestServer();
  try {
    const { key } = await createKey(server, await signIn(server, 'owner@demo.test'), 'Minted Before');
    const token = () => server.db('oidc_payloads').where({ model: 'AccessToken', id: hashToken(key) });
    // As an earlier version minted it: `${PUBLIC_URL}/api/v1/leads`.
    await token().update({ payload: server.db.raw(`jsonb_set(payload, '{aud}', to_jsonb(?::text))`, [`${server.url}/api/v1/leads`]) });
    t.is((await postLead(server, key)).status, 401, 'the old audience is not this API\'s');
    await renameLegacyAudiences(server.db);
    t.is((await token().first()).payload.aud, LEADS_API_DEFAULT_AUDIENCE);
    t.is((await postLead(server, key)).status, 201);
    // A staff token (the admin API's audience) is left alone.
    const staffTokens = await server.db('oidc_payloads').where({ model: 'AccessToken' }).whereRaw(`payload->>'clientId' = 'octiv-app'`);
    t.true(staffTokens.length > 0, 'the sign-in left a staff token to look at');
    t.true(staffTokens.every((row: { payload: { aud: string } }) => row.payload.aud === server.config.adminApiResource));
  } finally {
    await server.close();
  }
});
