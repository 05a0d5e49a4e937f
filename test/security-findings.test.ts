import http from 'node:http';

import test from 'ava';

import { startTestServer, type TestServer } from './helpers/server.js';

// The findings of the second security review (issue 25), one regression test (or more) each.

let server: TestServer;

test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.close();
});

/** A request whose target is in absolute form (`GET http://host/path HTTP/1.1`), as curl --request-target sends it. */
function absoluteFormRequest(target: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const request = http.request({ hostname, port, method: 'GET', path: target, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end();
  });
}

test('finding 3: an absolute-form request target never puts its origin into a URL the server writes', async (t) => {
  const discovery = await absoluteFormRequest('http://evil.test/oauth/.well-known/openid-configuration');
  t.is(discovery.status, 200);
  t.notRegex(discovery.body, /evil\.test/);
  const body = JSON.parse(discovery.body) as Record<string, unknown>;
  t.is(body.authorization_endpoint, `${server.url}/oauth/auth`);
  t.is(body.token_endpoint, `${server.url}/oauth/token`);
  t.is(body.jwks_uri, `${server.url}/oauth/jwks`);
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string' && /^https?:/.test(value)) t.true(value.startsWith(`${server.url}/`), `${name}: ${value}`);
  }

  // The sign-out page's form, with and without a Host header that agrees with the target.
  for (const headers of [{}, { Host: 'evil.test' }] as Record<string, string>[]) {
    const logout = await absoluteFormRequest('http://evil.test/oauth/session/end', headers);
    t.is(logout.status, 200);
    t.notRegex(logout.body, /evil\.test/);
    t.regex(logout.body, new RegExp(`action="${server.url}/oauth/session/end/confirm"`));
  }

  // Our own routes answer too, and the path of an absolute-form target still routes as usual.
  const health = await absoluteFormRequest(`https://evil.test:8443/healthz?x=1`);
  t.is(health.status, 200);
  const problem = await absoluteFormRequest('http://evil.test/api/v1/api-keys');
  t.is(problem.status, 401);
  t.notRegex(problem.body, /evil\.test/);
});
