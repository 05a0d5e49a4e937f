import { readFile } from 'node:fs/promises';

import { compileErrors, validate } from '@readme/openapi-parser';
import test from 'ava';

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
