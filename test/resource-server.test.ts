import { createHash, randomUUID } from 'node:crypto';

import test, { type ExecutionContext } from 'ava';

import { generateKey } from '../src/api-keys/key-format.js';
import { createKey, mintKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { DEMO, startTestServer, type TestServer } from './helpers/server.js';

// One contract, three ways to check a key: inside the lead's insert statement
// (the default), the verifier before the insert (in-process), and RFC 7662
// introspection over HTTP (a Leads API deployed apart).
const MODES = {
  'in-write': {},
  'in-process': { env: { LEADS_API_KEY_CHECK: 'in-process' } },
  remote: { remoteIntrospection: true },
} as const;

for (const [mode, options] of Object.entries(MODES) as [keyof typeof MODES, (typeof MODES)[keyof typeof MODES]][]) {
  let server: TestServer;
  let owner: string;

  test.before(async () => {
    server = await startTestServer(options);
    owner = await signIn(server, 'owner@demo.test');
  });
  test.after.always(async () => {
    await server?.close();
  });

  const t = (title: string, fn: (t: ExecutionContext) => Promise<void>) => test(`[${mode}] ${title}`, fn);
  const body = () => ({ firstName: 'Grace', lastName: 'Hopper', email: `grace.${crypto.randomUUID()}@example.com` });
  const postLead = (headers: Record<string, string>, path = '/api/v1/leads') => api(server, path, { body: body(), headers });
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  t('a good key creates a lead', async (t) => {
    const { key } = await createKey(server, owner, `Good ${mode}`);
    t.is((await postLead(bearer(key))).status, 201);
  });

  for (const idempotent of [false, true]) {
    const what = idempotent ? 'with an Idempotency-Key kept on the lead' : 'the lead';
    t(`${what}: one statement that checks the key only in in-write mode`, async (t) => {
      const { key } = await createKey(server, owner, `Statements ${mode} ${idempotent}`);
      const hash = createHash('sha256').update(key).digest('hex');
      // A key's first request in a process also reads its rate limit (kept a minute): not this request.
      t.is((await postLead(bearer(key))).status, 201);
      const lead = body();
      const idempotencyKey = `statements-${randomUUID()}`;
      // Other tests run concurrently: watch only the queries naming this key, this lead or this Idempotency-Key.
      // Both query paths: knex's, and the fast path of the hot statements.
      const queries: string[] = [];
      const note = (sql: string, values: readonly unknown[] | undefined) => {
        // Statements of leads written together, and of verdicts judged together, hold each one's values in arrays
        // (the usage flush's statements hold a key's hash in arrays too, on a timer: only those two are read that way).
        const together = /insert into "?members"?/.test(sql) || /with ordinality as i\(token_hash/.test(sql);
        const holds = (value: string) => values?.some((sent) => sent === value || (together && Array.isArray(sent) && sent.includes(value)));
        if ([hash, lead.email, idempotencyKey].some(holds)) queries.push(sql.replace(/"/g, ''));
      };
      const onQuery = (query: { sql: string; bindings?: unknown[] }) => note(query.sql, query.bindings);
      server.db.on('query', onQuery);
      // On the embedded database the fast path goes through knex, whose events show it already.
      const stop = server.services.database.kind === 'postgres' ? server.services.database.fast.onStatement((sent) => note(sent.text, sent.values)) : () => undefined;
      try {
        const headers = { ...bearer(key), ...(idempotent ? { 'Idempotency-Key': idempotencyKey } : {}) };
        t.is((await api(server, '/api/v1/leads', { body: lead, headers })).status, 201);
      } finally {
        server.db.off('query', onQuery);
        stop();
      }
      if (mode === 'in-write') {
        t.is(queries.length, 1, queries.join('\n'));
        t.regex(queries[0]!, /join api_key_secrets/);
        t.regex(queries[0]!, /insert into members/);
        // The lead keeps its Idempotency-Key: one row, after one probe that the key has no record.
        if (idempotent) t.regex(queries[0]!, /not exists \(select 1 from idempotency_records/);
      } else {
        t.is(queries.length, 2, 'the verifier\'s look-up, then one write');
        t.regex(queries[0]!, /^with q as \(select/);
        t.regex(queries[0]!, /api_key_secrets/);
        t.regex(queries[1]!, /insert into members/);
        t.false(queries[1]!.includes('api_keys'), 'the write does not check the key again');
      }
      if (idempotent) {
        const replay = await api(server, '/api/v1/leads', { body: lead, headers: { ...bearer(key), 'Idempotency-Key': idempotencyKey } });
        t.is(replay.status, 201);
        t.is(replay.headers.get('idempotent-replayed'), 'true');
      }
    });
  }

  t('a bad key with a bad body is 401; a good key with the same body is 400', async (t) => {
    const { key } = await createKey(server, owner, `Bad body ${mode}`);
    const bad = { firstName: '', email: 'not-an-email' };
    const wellFormedUnknown = generateKey();
    for (const token of ['junk', wellFormedUnknown]) {
      const response = await api(server, '/api/v1/leads', { body: bad, headers: bearer(token) });
      t.is(response.status, 401, token.slice(0, 12));
    }
    const scopeless = await createKey(server, owner, `Scopeless bad body ${mode}`);
    await server.db('oidc_payloads')
      .where({ model: 'AccessToken', id: createHash('sha256').update(scopeless.key).digest('hex') })
      .update({ payload: server.db.raw(`jsonb_set(payload, '{scope}', '"members:read"')`) });
    t.is((await api(server, '/api/v1/leads', { body: bad, headers: bearer(scopeless.key) })).status, mode === 'remote' ? 401 : 403);
    const notJson = await fetch(`${server.url}/api/v1/leads`, { method: 'POST', headers: { ...bearer(wellFormedUnknown), 'Content-Type': 'text/plain' }, body: 'hi' });
    t.is(notJson.status, 401);
    const response = await api(server, '/api/v1/leads', { body: bad, headers: bearer(key) });
    t.is(response.status, 400);
    t.truthy(response.body.errors.find((error: { path: string }) => error.path === 'email'));
  });

  t('no credentials: 401 with a bare challenge', async (t) => {
    const response = await postLead({});
    t.is(response.status, 401);
    t.is(response.headers.get('www-authenticate'), 'Bearer realm="api"');
    t.is(response.headers.get('content-type'), 'application/problem+json');
  });

  t('malformed, checksum-failing and unknown keys: 401 invalid_token', async (t) => {
    const { key } = await createKey(server, owner, `Typo ${mode}`);
    const typo = key.slice(0, 20) + (key[20] === 'x' ? 'y' : 'x') + key.slice(21);
    for (const token of ['junk', 'oct_pat_short', typo, `oct_pat_${'Z'.repeat(43)}000000`]) {
      const response = await postLead(bearer(token));
      t.is(response.status, 401, token.slice(0, 12));
      t.regex(response.headers.get('www-authenticate') ?? '', /^Bearer realm="api", error="invalid_token"/);
    }
  });

  t('a staff login token is not a leads key', async (t) => {
    const response = await postLead(bearer(owner));
    t.is(response.status, 401);
    t.regex(response.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  t('a key for another API is refused', async (t) => {
    const token = await mintKey(server, { scope: 'leads:create', facilityId: DEMO.demoFitness.id, expiresIn: 60, audience: server.config.adminApiResource });
    t.is((await postLead(bearer(token))).status, 401);
  });

  t('a key without leads:create: 403 insufficient_scope naming the scope (remote: inactive, 401)', async (t) => {
    const { key, id } = await createKey(server, owner, `Scopeless ${mode}`);
    await server.db('oidc_payloads')
      .where({ model: 'AccessToken', id: createHash('sha256').update(key).digest('hex') })
      .update({ payload: server.db.raw(`jsonb_set(payload, '{scope}', '"members:read"')`) });
    const response = await postLead(bearer(key));
    t.truthy(id);
    if (mode === 'remote') {
      // Introspection answers `active: false` for any key this API would refuse: the remote side learns nothing more.
      t.is(response.status, 401);
      return;
    }
    t.is(response.status, 403);
    t.is(response.headers.get('www-authenticate'), 'Bearer realm="api", error="insufficient_scope", error_description="This API key lacks the leads:create scope.", scope="leads:create"');
  });

  t('an expired key: 401', async (t) => {
    const { key } = await createKey(server, owner, `Expiring ${mode}`);
    t.is((await postLead(bearer(key))).status, 201);
    // Its lifetime runs out (keys have no expiry setting yet: age it in storage).
    await server.db('oidc_payloads')
      .where({ model: 'AccessToken', id: createHash('sha256').update(key).digest('hex') })
      .update({
        expires_at: server.db.raw(`now() - interval '1 second'`),
        payload: server.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::int - 1))`),
      });
    const response = await postLead(bearer(key));
    t.is(response.status, 401);
    t.regex(response.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  t('the moment DELETE returns, the next request with the key gets 401', async (t) => {
    const { key, id } = await createKey(server, owner, `Deleted ${mode}`);
    t.is((await postLead(bearer(key))).status, 201);
    const deleted = await api(server, `/api/v1/api-keys/${id}`, { token: owner, method: 'DELETE' });
    t.is(deleted.status, 204);
    const after = await postLead(bearer(key));
    t.is(after.status, 401);
    t.regex(after.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  t('a key in the query string or the body is refused', async (t) => {
    const { key } = await createKey(server, owner, `Query ${mode}`);
    for (const path of [`/api/v1/leads?access_token=${key}`, `/api/v1/leads?api_key=${key}`]) {
      const response = await api(server, path, { body: body() });
      t.is(response.status, 401, path.split('?')[1]?.split('=')[0]);
      t.regex(response.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
    }
    const withHeaderToo = await api(server, `/api/v1/leads?access_token=${key}`, { body: body(), headers: bearer(key) });
    t.is(withHeaderToo.status, 401);
    const inBody = await api(server, '/api/v1/leads', { body: { ...body(), access_token: key } });
    t.is(inBody.status, 401);
    t.false(server.logs.join('\n').includes(key), 'the key never reaches the log');
  });
}

test('[remote] an unreachable introspection endpoint gives 503, never a pass', async (t) => {
  const server = await startTestServer({ env: { LEADS_API_KEY_CHECK: 'remote', LEADS_API_INTROSPECTION_URL: 'http://127.0.0.1:1/oauth/token/introspection' } });
  try {
    const { key } = await createKey(server, await signIn(server, 'owner@demo.test'), 'Unreachable');
    const response = await api(server, '/api/v1/leads', {
      body: { firstName: 'A', lastName: 'B', email: 'a.b@example.com' },
      headers: { Authorization: `Bearer ${key}` },
    });
    t.is(response.status, 503);
    t.is(response.headers.get('retry-after'), '5');
    t.is(await server.db('members').where({ email: 'a.b@example.com' }).first(), undefined);
  } finally {
    await server.close();
  }
});

test('[remote] wrong introspection credentials give 503 (a misconfiguration), never a pass', async (t) => {
  const authorizationServer = await startTestServer();
  // A Leads API run apart, on the same data, whose client secret is not the one the authorization server knows.
  const leadsApi = await startTestServer({
    share: authorizationServer,
    env: {
      LEADS_API_KEY_CHECK: 'remote',
      LEADS_API_INTROSPECTION_URL: `${authorizationServer.url}/oauth/token/introspection`,
      LEADS_API_CLIENT_SECRET: 'x'.repeat(40),
    },
  });
  try {
    const { key } = await createKey(authorizationServer, await signIn(authorizationServer, 'owner@demo.test'), 'Wrong secret');
    const response = await api(leadsApi, '/api/v1/leads', {
      body: { firstName: 'A', lastName: 'B', email: 'c.d@example.com' },
      headers: { Authorization: `Bearer ${key}` },
    });
    t.is(response.status, 503);
    t.is(await authorizationServer.db('members').where({ email: 'c.d@example.com' }).first(), undefined);
  } finally {
    await leadsApi.close();
    await authorizationServer.close();
  }
});
