import http from 'node:http';
import type { AddressInfo } from 'node:net';

import test from 'ava';
import { z } from 'zod';

import { createApp } from '../src/app.js';
import { defineRoute, type AnyRoute } from '../src/http/route.js';
import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// Routes that forget their key check, on purpose, mounted beside the real ones:
// each must refuse (or fail with a 500), never answer as if the key were checked.

const served = z.object({ served: z.literal(true) });

const forgetful: AnyRoute[] = [
  // Takes a key "checked by its write", then never writes nor verifies.
  defineRoute({
    method: 'post',
    path: '/test/forgets-in-write',
    operationId: 'testForgetsInWrite',
    summary: 'forgets its key check',
    tag: 'Test',
    security: 'apiKeyInWrite',
    requires: { scope: 'leads:create' },
    responses: { 200: { description: 'never', body: served } },
    async handle(ctx) {
      ctx.body = { served: true };
    },
  }),
  // Takes a verified key and never looks at it.
  defineRoute({
    method: 'get',
    path: '/test/ignores-its-key',
    operationId: 'testIgnoresItsKey',
    summary: 'never looks at its principal',
    tag: 'Test',
    security: 'apiKey',
    requires: { scope: 'leads:read' },
    responses: { 200: { description: 'served', body: served } },
    async handle(ctx) {
      ctx.body = { served: true };
    },
  }),
];

let server: TestServer;
let base: string;
let listener: http.Server;
let createOnly: string;
let readOnly: string;

test.before(async () => {
  server = await startTestServer();
  listener = http.createServer(createApp(server.services, { extraRoutes: forgetful }).callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
  const owner = await signIn(server, 'owner@demo.test');
  createOnly = (await createKey(server, owner, 'Creates leads')).key;
  readOnly = (await createKey(server, owner, 'Reads leads', ['leads:read'])).key;
});
test.after.always(async () => {
  listener?.closeAllConnections();
  listener?.close();
  await server?.close();
});

const call = (method: string, path: string, key: string) =>
  fetch(`${base}/api/v1${path}`, { method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });

test('a route whose write was to check the key, and did not, answers 500 and logs the route by name: never 200', async (t) => {
  for (const key of [createOnly, readOnly, 'oct_pat_not_even_well_formed']) {
    const response = await call('POST', '/test/forgets-in-write', key);
    t.not(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    t.not(body.served, true, 'the handler\'s answer never reaches the client');
  }
  const good = await call('POST', '/test/forgets-in-write', createOnly);
  t.is(good.status, 500, 'a live key whose check was forgotten: 500');
  t.true(
    server.logs.some((line) => line.includes('"status":500') && line.includes('testForgetsInWrite') && line.includes('without checking its API key')),
    'the log names the route that forgot',
  );
});

test('a route that never looks at its key is still behind the verifier: a refused key never reaches it', async (t) => {
  const unknown = await call('GET', '/test/ignores-its-key', 'oct_pat_not_even_well_formed');
  t.is(unknown.status, 401);
  const lacking = await call('GET', '/test/ignores-its-key', createOnly);
  t.is(lacking.status, 403, 'a key without the route\'s scope');
  t.regex(lacking.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="leads:read"/);
  const allowed = await call('GET', '/test/ignores-its-key', readOnly);
  t.is(allowed.status, 200);
  t.deepEqual(await allowed.json(), { served: true });
});

test('a route that takes a key but declares no scope is not mounted: the app does not start', (t) => {
  const undeclared = defineRoute({
    method: 'get',
    path: '/test/no-scope',
    operationId: 'testNoScope',
    summary: 'declares no scope',
    tag: 'Test',
    security: 'apiKey',
    responses: { 200: { description: 'never', body: served } },
    async handle(ctx) {
      ctx.body = {};
    },
  });
  t.throws(() => createApp(server.services, { extraRoutes: [undeclared] }), { message: /testNoScope takes an API key but declares no scope/ });
});

test('every real route that takes an API key declares its scope, and only the lead write checks its key in its statement', async (t) => {
  const { apiRoutes } = await import('../src/api-routes.js');
  const keyed = apiRoutes(server.services, server.config).filter((route) => route.security === 'apiKey' || route.security === 'apiKeyInWrite');
  t.true(keyed.length > 0);
  for (const route of keyed) t.truthy((route.requires as { scope?: unknown } | undefined)?.scope, `${route.operationId} declares a scope`);
  t.deepEqual(
    keyed.filter((route) => route.security === 'apiKeyInWrite').map((route) => route.operationId),
    ['createLead'],
  );
  // The owner's token is not an API key: the admin API is a different door.
  t.is((await api(server, '/api/v1/leads', { token: await signIn(server, 'owner@demo.test'), body: {} })).status, 401);
});
