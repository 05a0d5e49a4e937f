import test from 'ava';

import { TRAINER_WARNING } from '../src/staff/service.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
const tokens: Record<string, string> = {};
const [owner, admin, locationAdmin, trainer] = DEMO.demoFitness.staff;

test.before(async () => {
  server = await startTestServer();
  for (const email of ['owner@demo.test', 'admin@demo.test', 'location.admin@demo.test', 'trainer@demo.test', 'owner@other.test']) {
    tokens[email] = await signIn(server, email);
  }
});
test.after.always(async () => {
  await server?.close();
});

const access = (token: string, staffId: string, body: unknown) => api(server, `/api/v1/staff/${staffId}/access`, { token, method: 'PUT', body });

test.serial('GET /staff lists the facility\'s staff only, with role and permission', async (t) => {
  for (const email of ['owner@demo.test', 'admin@demo.test', 'location.admin@demo.test']) {
    const response = await api(server, '/api/v1/staff', { token: tokens[email] });
    t.is(response.status, 200, email);
    t.deepEqual(
      response.body.items.map((member: { email: string }) => member.email).sort(),
      ['admin@demo.test', 'location.admin@demo.test', 'owner@demo.test', 'trainer@demo.test'],
    );
    t.like(response.body.items.find((member: { email: string }) => member.email === 'owner@demo.test'), {
      id: owner.id,
      name: 'Olivia Owner',
      role: 'owner',
      permissions: { systemIntegrations: true },
    });
    t.false(JSON.stringify(response.body).includes('password'));
  }
  const other = await api(server, '/api/v1/staff', { token: tokens['owner@other.test'] });
  t.deepEqual(other.body.items.map((member: { email: string }) => member.email), ['owner@other.test']);
});

test.serial('GET /staff: trainers get 403; no token 401', async (t) => {
  const response = await api(server, '/api/v1/staff', { token: tokens['trainer@demo.test'] });
  t.is(response.status, 403);
  t.is(response.headers.get('content-type'), 'application/problem+json');
  t.is((await api(server, '/api/v1/staff')).status, 401);
});

test.serial('an Owner grants and removes System Integrations; it applies to the very next request', async (t) => {
  const adminToken = tokens['admin@demo.test']!;
  t.is((await api(server, '/api/v1/api-keys', { token: adminToken })).status, 403);

  const granted = await access(tokens['owner@demo.test']!, admin.id, { systemIntegrations: true });
  t.is(granted.status, 200);
  t.deepEqual(granted.body, { id: admin.id, name: 'Adam Admin', email: 'admin@demo.test', role: 'admin', permissions: { systemIntegrations: true } });
  t.is((await api(server, '/api/v1/api-keys', { token: adminToken })).status, 200, 'the same token works at once');

  const removed = await access(tokens['owner@demo.test']!, admin.id, { systemIntegrations: false });
  t.like(removed.body, { permissions: { systemIntegrations: false } });
  t.is((await api(server, '/api/v1/api-keys', { token: adminToken })).status, 403, 'and is refused at once');
});

test.serial('granting to a Trainer succeeds with a warning', async (t) => {
  const response = await access(tokens['owner@demo.test']!, trainer.id, { systemIntegrations: true });
  t.is(response.status, 200);
  t.deepEqual(response.body.warnings, [TRAINER_WARNING]);
  t.true(response.body.permissions.systemIntegrations);
  const off = await access(tokens['owner@demo.test']!, trainer.id, { systemIntegrations: false });
  t.is(off.body.warnings, undefined);
});

test.serial('an Owner\'s permission cannot be turned off', async (t) => {
  const response = await access(tokens['owner@demo.test']!, owner.id, { systemIntegrations: false });
  t.is(response.status, 409);
  t.regex(response.body.detail, /Owner always has System Integrations/);
  t.true((await api(server, '/api/v1/me', { token: tokens['owner@demo.test'] })).body.permissions.systemIntegrations);
  t.is((await access(tokens['owner@demo.test']!, owner.id, { systemIntegrations: true })).status, 200);
});

test.serial('only an Owner can change the permission', async (t) => {
  await server.db('staff').where({ id: admin.id }).update({ system_integrations: true });
  for (const email of ['admin@demo.test', 'location.admin@demo.test', 'trainer@demo.test']) {
    const response = await access(tokens[email]!, locationAdmin.id, { systemIntegrations: true });
    t.is(response.status, 403, email);
  }
  await server.db('staff').where({ id: admin.id }).update({ system_integrations: false });
  t.false((await server.db('staff').where({ id: locationAdmin.id }).first()).system_integrations, 'nothing changed');
});

test.serial('another facility\'s staff member is 404, like an unknown or malformed id', async (t) => {
  const otherOwner = tokens['owner@other.test']!;
  for (const id of [admin.id, crypto.randomUUID(), 'not-a-uuid']) {
    const response = await access(otherOwner, id, { systemIntegrations: true });
    t.is(response.status, 404, id);
  }
  t.false((await server.db('staff').where({ id: admin.id }).first()).system_integrations);
});

test.serial('bad bodies get 400 naming the field and the rule, and change nothing', async (t) => {
  const owner = tokens['owner@demo.test']!;
  const cases: [unknown, string, RegExp][] = [
    [{}, 'systemIntegrations', /is required/],
    [{ systemIntegrations: 'yes' }, 'systemIntegrations', /must be true or false/],
    [{ systemIntegrations: true, role: 'owner' }, 'role', /is not a known field/],
  ];
  for (const [body, path, message] of cases) {
    const response = await access(owner, admin.id, body);
    t.is(response.status, 400, JSON.stringify(body));
    t.is(response.body.errors?.[0]?.path, path);
    t.regex(response.body.errors?.[0]?.message, message);
  }
  t.false((await server.db('staff').where({ id: admin.id }).first()).system_integrations);
});
