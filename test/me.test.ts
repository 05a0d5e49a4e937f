import test from 'ava';

import { API_KEYS_CLIENT_ID, OCTIV_APP_CLIENT_ID } from '../src/shared/clients.js';
import { eventually } from './helpers/eventually.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.close();
});

async function mint(options: { audience: string; scope: string; accountId?: string; expiresIn: number }): Promise<string> {
  const { provider } = server;
  const client = await provider.Client.find(options.accountId ? OCTIV_APP_CLIENT_ID : API_KEYS_CLIENT_ID);
  const token = new provider.AccessToken({
    client,
    accountId: options.accountId,
    scope: options.scope,
    resourceServer: { scope: options.scope, audience: options.audience },
    expiresIn: options.expiresIn,
  } as never);
  return token.save();
}

test('GET /api/v1/me with a good token answers the staff member', async (t) => {
  const token = await signIn(server, 'trainer@demo.test');
  const me = await api(server, '/api/v1/me', { token });
  t.is(me.status, 200);
  t.like(me.body, { email: 'trainer@demo.test', role: 'trainer', facilityId: DEMO.demoFitness.id, permissions: { systemIntegrations: false } });
  t.is(me.headers.get('cache-control'), 'no-store');
});

test('no token: 401 with a bare Bearer challenge (no error) and problem+json', async (t) => {
  const me = await api(server, '/api/v1/me');
  t.is(me.status, 401);
  t.is(me.headers.get('www-authenticate'), 'Bearer realm="api"');
  t.is(me.headers.get('content-type'), 'application/problem+json');
  t.like(me.body, { status: 401, title: 'Unauthorized' });
});

test('another scheme counts as no bearer credentials', async (t) => {
  const me = await api(server, '/api/v1/me', { headers: { Authorization: 'Basic b3duZXI6cGFzcw==' } });
  t.is(me.status, 401);
  t.is(me.headers.get('www-authenticate'), 'Bearer realm="api"');
});

test('a junk or malformed token: 401 invalid_token', async (t) => {
  for (const header of ['Bearer junk', 'Bearer oct_pat_nope', 'Bearer a b c', 'Bearer ']) {
    const me = await api(server, '/api/v1/me', { headers: { Authorization: header } });
    t.is(me.status, 401, header);
    t.regex(me.headers.get('www-authenticate') ?? '', /^Bearer realm="api", error="invalid_token"/, header);
  }
});

test('an expired token: 401 invalid_token', async (t) => {
  const staffId = DEMO.demoFitness.staff[0].id;
  const token = await mint({ audience: server.config.adminApiResource, scope: 'admin', accountId: staffId, expiresIn: 3 });
  t.is((await api(server, '/api/v1/me', { token })).status, 200);
  // Asked again until the server stops taking it (about 3 s): it is taken up to its end, then refused.
  const me = await eventually(
    async () => {
      const answer = await api(server, '/api/v1/me', { token });
      return answer.status !== 200 && answer;
    },
    { intervalMs: 100, what: 'the token to expire' },
  );
  t.is(me.status, 401);
  t.regex(me.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
});

test('a token for another audience or without the admin scope is refused', async (t) => {
  const staffId = DEMO.demoFitness.staff[0].id;
  const leadsToken = await mint({ audience: server.config.leadsApiResource, scope: 'admin', accountId: staffId, expiresIn: 60 });
  t.is((await api(server, '/api/v1/me', { token: leadsToken })).status, 401);
  const noScope = await mint({ audience: server.config.adminApiResource, scope: 'other', accountId: staffId, expiresIn: 60 });
  t.is((await api(server, '/api/v1/me', { token: noScope })).status, 401);
});

test('a token in the query string is refused, even next to a good header', async (t) => {
  const token = await signIn(server, 'admin@demo.test');
  const me = await api(server, `/api/v1/me?access_token=${token}`, { token });
  t.is(me.status, 401);
  t.regex(me.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
  t.false(server.logs.some((line) => line.includes(token)), 'the token never reaches the log');
});

test('role and permission are read from the database on every request', async (t) => {
  const token = await signIn(server, 'location.admin@demo.test');
  const staffId = DEMO.demoFitness.staff[2].id;
  t.like((await api(server, '/api/v1/me', { token })).body, { role: 'location_admin', permissions: { systemIntegrations: false } });
  await server.db('staff').where({ id: staffId }).update({ system_integrations: true });
  t.like((await api(server, '/api/v1/me', { token })).body, { permissions: { systemIntegrations: true } });
  await server.db('staff').where({ id: staffId }).update({ system_integrations: false });
  t.like((await api(server, '/api/v1/me', { token })).body, { permissions: { systemIntegrations: false } });
});

test('a token of a staff member who no longer exists is refused', async (t) => {
  const [facility] = await server.db('facilities').insert({ id: crypto.randomUUID(), name: 'Gone Gym' }).returning('id');
  const staffId = crypto.randomUUID();
  await server.db('staff').insert({ id: staffId, facility_id: facility.id, name: 'Temp', email: 'temp@gone.test', role: 'admin', password_hash: 'x' });
  const token = await mint({ audience: server.config.adminApiResource, scope: 'admin', accountId: staffId, expiresIn: 60 });
  t.is((await api(server, '/api/v1/me', { token })).status, 200);
  await server.db('staff').where({ id: staffId }).delete();
  t.is((await api(server, '/api/v1/me', { token })).status, 401);
});
