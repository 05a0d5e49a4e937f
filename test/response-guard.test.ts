import http from 'node:http';
import type { AddressInfo } from 'node:net';

import test from 'ava';
import { z } from 'zod';

import { createApp } from '../src/app.js';
import { conflict } from '../src/http/errors.js';
import { defineRoute, type AnyRoute, type RouteResponse } from '../src/http/route.js';
import { createDocumentChecker } from './helpers/openapi-check.js';
import { logLine, startTestServer, type TestServer } from './helpers/server.js';

// The response guard (OPENAPI_GUARD=on, every test server): an answer its
// route does not declare is caught, answered 500, and logged naming the route
// and the mismatch; an answer as declared passes untouched.

const named = z.object({ name: z.string() });

/** A route with no credentials that declares `responses` and answers as `handle` does. */
function route(operationId: string, responses: Record<number, RouteResponse>, handle: AnyRoute['handle']): AnyRoute {
  return defineRoute({ method: 'get', path: `/test/${operationId}`, operationId, summary: operationId, tag: 'Test', security: 'none', responses, handle });
}

const misbehaving: AnyRoute[] = [
  route('testAsDeclared', { 200: { description: 'as declared', body: named, headers: { Link: 'sometimes' } } }, async (ctx) => {
    ctx.set('Link', '</api/v1/test/testAsDeclared?page=2>; rel="next"');
    ctx.body = { name: 'fine' };
  }),
  route('testUndeclaredStatus', { 200: { description: 'ok', body: named } }, async (ctx) => {
    ctx.status = 202;
    ctx.body = { name: 'accepted?' };
  }),
  route('testUndeclaredMember', { 200: { description: 'ok', body: named } }, async (ctx) => {
    ctx.body = { name: 'key', keyHash: 'must never leave the store' };
  }),
  route('testWrongType', { 200: { description: 'ok', body: named } }, async (ctx) => {
    ctx.body = { name: 42 };
  }),
  route('testMissingLocation', { 201: { description: 'created', body: named, headers: { Location: 'always' } } }, async (ctx) => {
    ctx.status = 201;
    ctx.body = { name: 'where?' };
  }),
  route('testUndeclaredHeader', { 200: { description: 'ok', body: named } }, async (ctx) => {
    ctx.set('Retry-After', '30');
    ctx.body = { name: 'come back later?' };
  }),
  route('testUndeclaredError', { 200: { description: 'ok', body: named } }, async () => {
    throw conflict('A conflict nobody declared.');
  }),
  route('testUndeclaredProblemMember', { 200: { description: 'ok', body: named }, 409: { description: 'a conflict' } }, async () => {
    throw conflict('A conflict with a member nobody declared.', { leadId: 'x' });
  }),
  route('testUndeclaredType', { 200: { description: 'ok', body: named } }, async (ctx) => {
    ctx.type = 'text/csv';
    ctx.body = 'name\nspreadsheet';
  }),
  route('testUndeclaredBody', { 204: { description: 'nothing' } }, async (ctx) => {
    ctx.status = 200;
    ctx.body = { name: 'something after all' };
  }),
];

let server: TestServer;
let listener: http.Server;
let base: string;

test.before(async () => {
  server = await startTestServer({ seed: false });
  listener = http.createServer(createApp(server.services, { extraRoutes: misbehaving }).callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});
test.after.always(async () => {
  listener?.closeAllConnections();
  listener?.close();
  await server?.close();
});

const get = (operationId: string) => fetch(`${base}/api/v1/test/${operationId}`);

test('an answer as its route declares it passes untouched', async (t) => {
  const response = await get('testAsDeclared');
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { name: 'fine' });
  t.regex(response.headers.get('link') ?? '', /rel="next"/);
});

for (const [operationId, mismatch] of [
  ['testUndeclaredStatus', /status 202 is not declared \(declared: 200, 500, 503\)/],
  ['testUndeclaredMember', /the body: keyHash is not declared/],
  ['testWrongType', /the body: name: .*expected string/i],
  ['testMissingLocation', /header Location is declared on every 201 but missing/],
  ['testUndeclaredHeader', /header Retry-After is sent but not declared on 200/],
  ['testUndeclaredError', /status 409 is not declared/],
  ['testUndeclaredProblemMember', /the problem: leadId is not declared/],
  ['testUndeclaredType', /content type text\/csv is not declared on 200 \(declared: application\/json\)/],
  ['testUndeclaredBody', /status 200 is not declared/],
] as const) {
  test(`caught: ${operationId} answers 500 and the log names the route and ${String(mismatch)}`, async (t) => {
    const response = await get(operationId);
    t.is(response.status, 500);
    t.is(response.headers.get('content-type'), 'application/problem+json');
    t.is(response.headers.get('retry-after'), null, 'no header of the refused answer is left behind');
    const body = (await response.json()) as Record<string, unknown>;
    t.like(body, { status: 500, title: 'Internal server error', requestId: response.headers.get('x-request-id') });
    t.false(JSON.stringify(body).includes('must never leave'), 'nothing of the refused answer reaches the client');
    const line = await logLine(server, { operationId, level: 'error' });
    t.is(line.route, `GET /test/${operationId}`);
    t.true((line.mismatches as string[]).some((text) => mismatch.test(text)), JSON.stringify(line.mismatches));
  });
}

test('the guard\'s 500 is the problem every operation lists for 500', async (t) => {
  const document = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  // Held to GET /me's 500, as a client generated from the document would read it.
  const response = await get('testWrongType');
  const checked = createDocumentChecker(document).check({ method: 'GET', template: '/me', status: response.status, headers: response.headers, text: await response.text() });
  t.deepEqual(checked.problems, []);
  t.is(checked.mediaType, 'application/problem+json');
});
