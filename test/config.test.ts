import test from 'ava';

import { ConfigError, DEV_DEFAULTS, loadConfig } from '../src/config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

test('defaults give a working development setup on the embedded database', (t) => {
  const config = loadConfig({});
  t.is(config.port, 3000);
  t.is(config.publicUrl, 'http://localhost:3000');
  t.is(config.issuer, 'http://localhost:3000/oauth');
  t.is(config.adminApiResource, 'http://localhost:3000/api');
  t.is(config.leadsApiResource, 'urn:octiv:api:leads', 'a name, not an address: it does not follow PUBLIC_URL');
  t.is(loadConfig({ PUBLIC_URL: 'https://elsewhere.example' }).leadsApiResource, 'urn:octiv:api:leads');
  t.is(loadConfig({ LEADS_API_AUDIENCE: 'https://leads.example/v1' }).leadsApiResource, 'https://leads.example/v1');
  t.regex(problemsOf({ LEADS_API_AUDIENCE: 'two words' })[0] ?? '', /^LEADS_API_AUDIENCE: /);
  t.deepEqual(config.database, { kind: 'embedded', dataDir: './.data' });
  t.is(config.leadsApiClient.id, 'leads-api');
  t.is(config.demoPassword, 'demo-password');
  t.deepEqual(config.octivAppRedirectUris, ['http://localhost:3000/console/callback']);
  t.deepEqual(config.leadsApiKeyCheck, { mode: 'in-write' });
});

test('PUBLIC_URL defaults to the port, and a trailing slash is dropped', (t) => {
  t.is(loadConfig({ PORT: '4123' }).publicUrl, 'http://localhost:4123');
  t.is(loadConfig({ PUBLIC_URL: 'https://auth.example.com/' }).publicUrl, 'https://auth.example.com');
});

test('DATABASE_URL selects Postgres', (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/app', DATABASE_POOL_MAX: '4' });
  t.deepEqual(config.database, { kind: 'postgres', url: 'postgres://u@db:5432/app', poolMax: 4, migrationUrl: undefined, preparedStatements: true });
  const split = loadConfig({ DATABASE_URL: 'postgres://app@db/app', DATABASE_MIGRATION_URL: 'postgres://owner@db/app', DATABASE_PREPARED_STATEMENTS: 'off' });
  t.like(split.database, { migrationUrl: 'postgres://owner@db/app', preparedStatements: false });
  t.deepEqual(problemsOf({ DATABASE_MIGRATION_URL: 'postgres://owner@db/app' }), ['DATABASE_MIGRATION_URL: needs DATABASE_URL (the role the server runs as); the embedded database has one role']);
  t.regex(problemsOf({ AUDIT_RETENTION_DAYS: '29' })[0] ?? '', /^AUDIT_RETENTION_DAYS: must be at least 30/);
});

test('a bad value names the variable and the rule', (t) => {
  t.deepEqual(problemsOf({ PORT: 'eighty' }).map((problem) => problem.split(':')[0]), ['PORT']);
  t.regex(problemsOf({ PORT: '70000' })[0] ?? '', /^PORT: .*65535/);
  t.regex(problemsOf({ PUBLIC_URL: 'not a url' })[0] ?? '', /^PUBLIC_URL: must be an http\(s\) URL/);
  t.deepEqual(problemsOf({ LEADS_API_KEY_CHECK: 'sometimes' }), ['LEADS_API_KEY_CHECK: must be in-write, in-process or remote']);
  t.regex(problemsOf({ PUBLIC_URL: 'http://x.test/?a=1' })[0] ?? '', /^PUBLIC_URL: must not have a query string/);
  t.regex(problemsOf({ DATABASE_URL: 'mysql://x' })[0] ?? '', /^DATABASE_URL: must be a postgres/);
  t.regex(problemsOf({ LOG_LEVEL: 'loud' })[0] ?? '', /^LOG_LEVEL: /);
  t.regex(problemsOf({ LEADS_API_CLIENT_SECRET: 'short' })[0] ?? '', /^LEADS_API_CLIENT_SECRET: must be at least 32 characters/);
  t.regex(problemsOf({ COOKIE_KEYS: 'tiny' })[0] ?? '', /^COOKIE_KEYS\.0: each key must be at least 32 characters/);
  t.regex(problemsOf({ JWKS: '{not json' })[0] ?? '', /^JWKS: must be a JSON Web Key Set/);
  t.regex(problemsOf({ JWKS: '{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]}' })[0] ?? '', /private key/);
  t.regex(problemsOf({ TRUST_PROXY: 'maybe' })[0] ?? '', /^TRUST_PROXY: /);
});

test('LEADS_API_KEY_CHECK settles how keys are checked; its URL only serves remote, and a conflict names both variables', (t) => {
  t.deepEqual(loadConfig({ LEADS_API_KEY_CHECK: 'in-process' }).leadsApiKeyCheck, { mode: 'in-process' });
  t.deepEqual(loadConfig({ LEADS_API_KEY_CHECK: 'in-write' }).leadsApiKeyCheck, { mode: 'in-write' });
  const url = 'https://auth.example.com/oauth/token/introspection';
  t.deepEqual(loadConfig({ LEADS_API_KEY_CHECK: 'remote', LEADS_API_INTROSPECTION_URL: url }).leadsApiKeyCheck, { mode: 'remote', introspectionUrl: url });
  t.deepEqual(problemsOf({ LEADS_API_KEY_CHECK: 'remote' }), ['LEADS_API_INTROSPECTION_URL: is required when LEADS_API_KEY_CHECK=remote']);
  for (const mode of [undefined, 'in-write', 'in-process']) {
    const problems = problemsOf({ LEADS_API_INTROSPECTION_URL: url, ...(mode ? { LEADS_API_KEY_CHECK: mode } : {}) });
    t.is(problems.length, 1, String(mode));
    t.regex(problems[0]!, /^LEADS_API_KEY_CHECK: must be remote when LEADS_API_INTROSPECTION_URL is set/);
  }
  // The value of an earlier version is refused with the rule, not taken for another mode.
  t.deepEqual(problemsOf({ LEADS_API_KEY_CHECK: 'introspection' }), ['LEADS_API_KEY_CHECK: must be in-write, in-process or remote']);
});

test('the error message never echoes a secret value', (t) => {
  const secret = 'short-secret-value';
  const error = t.throws(() => loadConfig({ LEADS_API_CLIENT_SECRET: secret }), { instanceOf: ConfigError });
  t.false(error?.message.includes(secret));
});

test('production refuses development defaults', (t) => {
  const problems = problemsOf({ NODE_ENV: 'production' });
  t.true(problems.some((p) => p.startsWith('DATABASE_URL: is required in production')));
  t.true(problems.some((p) => p.startsWith('PUBLIC_URL: is required in production')));
  t.true(problems.some((p) => p.startsWith('LEADS_API_CLIENT_SECRET: is required in production')));

  t.true(problems.some((p) => p.startsWith('SECRETS_KEY: is required in production unless both COOKIE_KEYS and JWKS are set')));
  const base = {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://db/app',
    PUBLIC_URL: 'https://auth.example.com',
    LEADS_API_CLIENT_SECRET: 'x'.repeat(40),
    SECRETS_KEY: 's'.repeat(40),
  };
  t.deepEqual(problemsOf(base), []);
  t.true(problemsOf({ ...base, RATE_LIMITS: 'off' }).some((p) => p.startsWith('RATE_LIMITS: must not be off in production')));
  t.true(problemsOf({ ...base, OPENAPI_GUARD: 'on' }).some((p) => p.startsWith('OPENAPI_GUARD: must not be on in production')));
  t.true(problemsOf({ ...base, PUBLIC_URL: 'http://auth.example.com' }).some((p) => p.startsWith('PUBLIC_URL: must be an https URL')));
  t.true(problemsOf({ ...base, DEMO_PASSWORD: 'demo-password' }).some((p) => p.startsWith('DEMO_PASSWORD: must not be set in production')));
  t.true(
    problemsOf({ ...base, LEADS_API_CLIENT_SECRET: DEV_DEFAULTS.leadsApiClientSecret }).some((p) =>
      p.startsWith('LEADS_API_CLIENT_SECRET: must not be the development default'),
    ),
  );
});
