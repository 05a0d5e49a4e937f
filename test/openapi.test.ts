import { readFile } from 'node:fs/promises';

import { compileErrors, validate } from '@readme/openapi-parser';
import test from 'ava';
import { z } from 'zod';

import { apiDocument } from '../src/api-routes.js';
import { defineRoute } from '../src/http/route.js';
import { requirePermission } from '../src/staff/authenticate.js';
import { api } from './helpers/oauth.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer({ seed: false });
});
test.after.always(async () => {
  await server?.close();
});

interface Layer {
  path: string;
  methods: string[];
}

/** The routes the running app really serves under /api/v1, read from its router. */
function mountedRoutes(): string[] {
  const dispatchers = server.app.middleware as unknown as { router?: { opts: { prefix?: string }; stack: Layer[] } }[];
  const router = dispatchers.find((middleware) => middleware.router?.opts.prefix === '/api/v1')?.router;
  if (!router) throw new Error('no /api/v1 router mounted');
  return router.stack
    .filter((layer) => layer.methods.length > 0)
    .flatMap((layer) =>
      layer.methods
        .filter((method) => method !== 'HEAD')
        .map((method) => `${method} ${layer.path.replace(/^\/api\/v1/, '').replace(/:(\w+)/g, '{$1}')}`),
    )
    .sort();
}

test('GET /api/v1/openapi.json is a valid OpenAPI 3.1 document', async (t) => {
  const response = await api(server, '/api/v1/openapi.json');
  t.is(response.status, 200);
  t.is(response.body.openapi, '3.1.0');
  const result = await validate(structuredClone(response.body));
  t.true(result.valid, result.valid ? '' : compileErrors(result));
});

test('the document lists every route the app serves, and nothing else', async (t) => {
  const { body } = await api(server, '/api/v1/openapi.json');
  const documented = Object.entries(body.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
  const mounted = mountedRoutes();
  t.true(mounted.length >= 8, mounted.join(', '));
  t.deepEqual(documented, mounted);
});

test('request bodies come from the same zod schemas that validate them', async (t) => {
  const { body } = await api(server, '/api/v1/openapi.json');
  const create = body.paths['/api-keys'].post;
  const schema = create.requestBody.content['application/json'].schema;
  const resolved = schema.$ref ? body.components.schemas[schema.$ref.split('/').pop()] : schema;
  t.deepEqual(resolved.required, ['name', 'scopes']);
  t.is(resolved.properties.name.maxLength, 100);
  t.is(resolved.additionalProperties, false);
  t.truthy(create.responses['201']);
  t.truthy(create.responses['400']);
  t.deepEqual(body.paths['/api-keys/{id}'].delete.parameters.map((parameter: { name: string; in: string }) => `${parameter.in}:${parameter.name}`), ['path:id']);
});

test('query parameters are documented, also when the query schema is a named one (a $ref)', async (t) => {
  const { body } = await api(server, '/api/v1/openapi.json');
  const names = (path: string) => (body.paths[path].get.parameters as { name: string; in: string }[]).filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name);
  t.deepEqual(names('/audit-events').slice(0, 2), ['limit', 'cursor']);
  t.deepEqual(names('/leads'), ['limit', 'cursor', 'createdSince', 'locationId', 'source']);
  t.deepEqual(names('/webhook-endpoints/{id}/deliveries'), ['limit', 'cursor', 'status']);
});

test('the build wrote the same document (dist/openapi.json, the console is type-checked against it)', async (t) => {
  const built = JSON.parse(await readFile('dist/openapi.json', 'utf8'));
  const { body: served } = await api(server, '/api/v1/openapi.json');
  const servedPaths = Object.keys(served.paths);
  t.true(servedPaths.length >= 8);
  // The build lists every route, secret scanning included; a server lists it only when configured.
  t.deepEqual(Object.keys(built.paths).filter((path) => path !== '/secret-scanning/reports'), servedPaths);
  for (const path of servedPaths) t.deepEqual(built.paths[path], served.paths[path], path);
  const { SecretScanningReport: _scanning, ...schemas } = built.components.schemas;
  t.deepEqual(schemas, served.components.schemas);
});

test('a new route gets every generic answer from its declaration alone, with headers and media types', (t) => {
  // Declares only its success: the rest comes from what it takes (credentials, guards, id, query, body).
  const staffRoute = defineRoute({
    method: 'post',
    path: '/widgets/:id',
    operationId: 'testCreateWidget',
    summary: 'A route of the future',
    description: 'Declares nothing but its 201.',
    tag: 'Settings',
    security: 'staff',
    guards: [requirePermission('systemIntegrations')],
    params: z.object({ id: z.uuid() }),
    body: z.strictObject({ name: z.string() }),
    responses: { 201: { description: 'Made', body: z.object({ id: z.uuid() }), headers: { Location: 'always' } } },
    async handle() {},
  });
  const keyRoute = defineRoute({
    method: 'get',
    path: '/widgets',
    operationId: 'testListWidgets',
    summary: 'Another',
    description: 'Declares nothing but its 200.',
    tag: 'Leads',
    security: 'apiKey',
    requires: { scope: 'leads:read' },
    query: z.strictObject({ limit: z.string().optional() }),
    responses: { 200: { description: 'Listed', body: z.object({ items: z.array(z.string()) }) } },
    async handle() {},
  });
  const document = apiDocument([staffRoute, keyRoute], server.config) as any;
  const made = document.paths['/widgets/{id}'].post;
  t.deepEqual(Object.keys(made.responses), ['201', '400', '401', '403', '404', '413', '415', '500', '503']);
  t.deepEqual(made.security, [{ staffToken: ['admin'] }]);
  t.deepEqual(made.responses['201'].headers.Location, { $ref: '#/components/headers/Location' });
  t.deepEqual(made.responses['401'].headers['WWW-Authenticate'], { $ref: '#/components/headers/WWW-Authenticate' });
  t.deepEqual(made.responses['503'].headers['Retry-After'], { $ref: '#/components/headers/Retry-After' });
  t.regex(made.responses['413'].description, /16 KiB/);
  const listed = document.paths['/widgets'].get;
  t.deepEqual(Object.keys(listed.responses), ['200', '400', '401', '403', '429', '500', '503']);
  t.deepEqual(listed.security, [{ apiKey: ['leads:read'] }]);
  t.regex(listed.responses['403'].description, /lacks the leads:read scope/);
  t.deepEqual(listed.responses['429'].headers['Retry-After'], { $ref: '#/components/headers/Retry-After' });
  for (const [status, response] of [...Object.entries(made.responses), ...Object.entries(listed.responses)] as [string, any][]) {
    t.deepEqual(response.headers['X-Request-Id'], { $ref: '#/components/headers/X-Request-Id' }, `${status}: X-Request-Id on every answer`);
    if (Number(status) >= 400) t.deepEqual(Object.keys(response.content), ['application/problem+json'], status);
  }
  for (const response of Object.values(listed.responses) as any[]) t.truthy(response.headers.RateLimit, 'an API key route: RateLimit on any answer');
  t.deepEqual(document.components.headers['X-Request-Id'].required, true);
  t.deepEqual(document.components.headers.RateLimit.required, false);
  t.throws(() => apiDocument([{ ...keyRoute, tag: 'Widgets' }], server.config), { message: /tag "Widgets" has no description/ });
});
