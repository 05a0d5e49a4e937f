import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { z } from 'zod';

/**
 * The Leads API's audience unless LEADS_API_AUDIENCE says otherwise: a name,
 * not an address, so keys survive a change of the server's public address.
 * (Keys minted before it carried `${PUBLIC_URL}/api/v1/leads`; a migration
 * renamed those.)
 */
export const LEADS_API_DEFAULT_AUDIENCE = 'urn:octiv:api:leads';

/** Development-only defaults. Each one is refused when NODE_ENV=production. */
export const DEV_DEFAULTS = {
  leadsApiClientSecret: 'leads-api-dev-secret-not-for-production',
  demoPassword: 'demo-password',
} as const;

/** The waits between webhook attempts (seconds): 8 attempts over about 27 hours. */
const DEFAULT_RETRY_SCHEDULE = '5,300,1800,7200,18000,36000,36000';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const commaList = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    HOST: z.string().min(1).optional(),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    PUBLIC_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .refine((value) => {
        const url = URL.parse(value);
        return !url || (url.search === '' && url.hash === '');
      }, 'must not have a query string or fragment')
      .optional(),
    TRUST_PROXY: z.stringbool().default(false),
    DATABASE_URL: z
      .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
      .optional(),
    DATABASE_MIGRATION_URL: z
      .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
      .optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
    DATABASE_PREPARED_STATEMENTS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
    DATA_DIR: z.string().min(1).default('./.data'),
    LOG_LEVEL: z.enum(logLevels).default('info'),
    LEADS_API_AUDIENCE: z
      .string()
      .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 printable characters without spaces (a URN or a URL)')
      .optional(),
    LEADS_API_CLIENT_ID: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be 1-100 letters, digits, dot, dash or underscore').default('leads-api'),
    LEADS_API_INTROSPECTION_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    LEADS_API_CLIENT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    LEADS_API_KEY_CHECK: z.enum(['in-write', 'in-process', 'remote'], { error: 'must be in-write, in-process or remote' }).optional(),
    DEMO_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
    OCTIV_APP_REDIRECT_URIS: commaList
      .pipe(z.array(z.url({ protocol: /^https?$/, error: 'must be a list of http(s) URLs' })))
      .optional(),
    COOKIE_KEYS: commaList
      .pipe(z.array(z.string().min(32, 'each key must be at least 32 characters')).min(1))
      .optional(),
    JWKS: z
      .string()
      .transform((value, ctx) => {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON Web Key Set' });
          return z.NEVER;
        }
      })
      .pipe(
        z.object({
          keys: z
            .array(z.looseObject({ kty: z.string(), d: z.string({ error: 'each key must be a private key (with "d")' }) }))
            .min(1, 'must hold at least one private signing key'),
        }),
      )
      .optional(),
    REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
    RATE_LIMITS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
    SECRET_SCANNING_PUBLIC_KEYS: z.string().min(1).optional(),
    SECRET_SCANNING_PUBLIC_KEYS_FILE: z.string().min(1).optional(),
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    AUDIT_RETENTION_DAYS: z.coerce.number().int('must be a whole number of days').min(30, 'must be at least 30 (the database keeps every event at least 30 days)').max(36500).default(400),
    SECRETS_KEY: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -base64 32)').optional(),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
    WEBHOOK_RETRY_SCHEDULE: z
      .string()
      .default(DEFAULT_RETRY_SCHEDULE)
      .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean))
      .pipe(
        z
          .array(
            z
              .string()
              .regex(/^\d{1,6}$/, 'must be whole numbers of seconds, separated by commas, e.g. 5,300,1800')
              .transform(Number)
              .pipe(z.number().min(1, 'each wait must be at least 1 second').max(604_800, 'each wait must be at most 604800 seconds (7 days)')),
          )
          .max(30, 'must list at most 30 waits'),
      ),
    OPENAPI_GUARD: z.enum(['on', 'off'], { error: 'must be on or off' }).default('off'),
  })
  .superRefine((env, ctx) => {
    const refuse = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (env.SECRET_SCANNING_PUBLIC_KEYS && env.SECRET_SCANNING_PUBLIC_KEYS_FILE) {
      refuse('SECRET_SCANNING_PUBLIC_KEYS_FILE', 'must not be set together with SECRET_SCANNING_PUBLIC_KEYS (choose one)');
    }
    // One variable says how the Leads API checks keys; the URL only serves `remote`.
    if (env.LEADS_API_KEY_CHECK === 'remote' && !env.LEADS_API_INTROSPECTION_URL) {
      refuse('LEADS_API_INTROSPECTION_URL', 'is required when LEADS_API_KEY_CHECK=remote');
    }
    if (env.LEADS_API_INTROSPECTION_URL && env.LEADS_API_KEY_CHECK !== 'remote') {
      refuse('LEADS_API_KEY_CHECK', `must be remote when LEADS_API_INTROSPECTION_URL is set (it is ${env.LEADS_API_KEY_CHECK ?? 'unset, meaning in-write'}); or unset LEADS_API_INTROSPECTION_URL`);
    }
    if (env.DATABASE_MIGRATION_URL && !env.DATABASE_URL) {
      refuse('DATABASE_MIGRATION_URL', 'needs DATABASE_URL (the role the server runs as); the embedded database has one role');
    }
    if (env.NODE_ENV !== 'production') return;
    if (!env.DATABASE_URL) refuse('DATABASE_URL', 'is required in production (the embedded database is for development)');
    if (!env.PUBLIC_URL) refuse('PUBLIC_URL', 'is required in production');
    else if (!env.PUBLIC_URL.startsWith('https://')) refuse('PUBLIC_URL', 'must be an https URL in production');
    if (!env.LEADS_API_CLIENT_SECRET) refuse('LEADS_API_CLIENT_SECRET', 'is required in production');
    else if (env.LEADS_API_CLIENT_SECRET === DEV_DEFAULTS.leadsApiClientSecret) {
      refuse('LEADS_API_CLIENT_SECRET', 'must not be the development default in production');
    }
    if (env.DEMO_PASSWORD) refuse('DEMO_PASSWORD', 'must not be set in production (demo data is refused there)');
    if (env.RATE_LIMITS === 'off') refuse('RATE_LIMITS', 'must not be off in production');
    if (env.OPENAPI_GUARD === 'on') refuse('OPENAPI_GUARD', 'must not be on in production (it checks every answer, and turns one the document does not declare into a 500)');
    if (!env.SECRETS_KEY && !(env.COOKIE_KEYS && env.JWKS)) {
      refuse('SECRETS_KEY', 'is required in production unless both COOKIE_KEYS and JWKS are set: the stored signing and cookie keys must not be usable from a copy of the database');
    }
  });

export interface Config {
  env: 'development' | 'test' | 'production';
  production: boolean;
  host: string | undefined;
  port: number;
  publicUrl: string;
  issuer: string;
  /** Resource indicator (audience) of the admin API. */
  adminApiResource: string;
  /**
   * Resource indicator (audience) of the Leads API; API keys carry it as
   * `aud`. Stable: it does not follow PUBLIC_URL, so moving the server does
   * not break the keys handed out.
   */
  leadsApiResource: string;
  trustProxy: boolean;
  database:
    | {
        kind: 'postgres';
        url: string;
        poolMax: number;
        /** The role that owns the schema and migrates it (the server's role then gets only what it needs); unset: the server's own. */
        migrationUrl?: string | undefined;
        /** Prepare the hot statements by name on each connection (off behind a transaction-pooling PgBouncer). */
        preparedStatements?: boolean;
      }
    | { kind: 'embedded'; dataDir: string };
  logLevel: (typeof logLevels)[number];
  leadsApiClient: { id: string; secret: string };
  /**
   * How the Leads API checks a key: `in-write` inside the lead's insert
   * statement (one round trip), `in-process` with the verifier first, or
   * `remote` over RFC 7662 at `introspectionUrl` (a Leads API run apart).
   */
  leadsApiKeyCheck: { mode: 'in-write' | 'in-process' } | { mode: 'remote'; introspectionUrl: string };
  demoPassword: string;
  octivAppRedirectUris: string[];
  cookieKeys: string[] | undefined;
  jwks: { keys: Record<string, unknown>[] } | undefined;
  shutdownTimeoutMs: number;
  /**
   * The secret-scanning partner's public keys, by key identifier (GitHub's
   * public-keys document). Unset: leaked-key reports are not accepted (404).
   */
  secretScanningKeys: Map<string, KeyObject> | undefined;
  /** Where limit counters live: Redis when set, else the database (memory on the embedded one). */
  redisUrl: string | undefined;
  /** Off: no limits at all (for measuring what they cost; never in production). */
  rateLimits: boolean;
  /** Seals the signing and cookie keys stored in the database (never stored itself). */
  secretsKey: string | undefined;
  /** Audit events older than this are removed by the operator's purge (and only by it). */
  auditRetentionDays: number;
  /** Set: GET /metrics answers Prometheus text to `Authorization: Bearer <it>`. Unset: no metrics (404). */
  metricsToken: string | undefined;
  /** The waits between webhook attempts, in seconds: n waits make n + 1 attempts. */
  webhookRetrySchedule: number[];
  /** Every /api/v1 answer is held against the OpenAPI document's (tests, development); one it does not declare becomes a 500. */
  openapiGuard: boolean;
}

const publicKeysDocument = z.object({
  public_keys: z
    .array(z.looseObject({ key_identifier: z.string().min(1), key: z.string().min(1), is_current: z.boolean().optional() }))
    .min(1, 'must list at least one key'),
});

/** Parses GitHub's public-keys document into keys by identifier; a problem is named, never thrown raw. */
function parseScanningKeys(text: string, variable: string): Map<string, KeyObject> | string {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return `${variable}: must be a JSON document {"public_keys": [{"key_identifier", "key"}]}`;
  }
  const parsed = publicKeysDocument.safeParse(document);
  if (!parsed.success) return `${variable}: must be a JSON document {"public_keys": [{"key_identifier", "key"}]} (${parsed.error.issues[0]?.message})`;
  const keys = new Map<string, KeyObject>();
  for (const entry of parsed.data.public_keys) {
    try {
      const key = createPublicKey(entry.key);
      if (key.asymmetricKeyType !== 'ec') return `${variable}: key ${entry.key_identifier} must be an ECDSA public key`;
      keys.set(entry.key_identifier, key);
    } catch {
      return `${variable}: key ${entry.key_identifier} is not a PEM public key`;
    }
  }
  return keys;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment once. A bad value throws a ConfigError naming each
 * variable and the rule it breaks; secrets are never echoed back.
 */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const defined = Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(defined);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`));
  }
  const env = parsed.data;
  let secretScanningKeys: Map<string, KeyObject> | undefined;
  if (env.SECRET_SCANNING_PUBLIC_KEYS || env.SECRET_SCANNING_PUBLIC_KEYS_FILE) {
    const variable = env.SECRET_SCANNING_PUBLIC_KEYS ? 'SECRET_SCANNING_PUBLIC_KEYS' : 'SECRET_SCANNING_PUBLIC_KEYS_FILE';
    let text = env.SECRET_SCANNING_PUBLIC_KEYS;
    if (!text) {
      try {
        text = readFileSync(env.SECRET_SCANNING_PUBLIC_KEYS_FILE!, 'utf8');
      } catch {
        throw new ConfigError([`${variable}: cannot read the file`]);
      }
    }
    const keys = parseScanningKeys(text, variable);
    if (typeof keys === 'string') throw new ConfigError([keys]);
    secretScanningKeys = keys;
  }
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  return {
    env: env.NODE_ENV,
    production: env.NODE_ENV === 'production',
    host: env.HOST,
    port: env.PORT,
    publicUrl,
    issuer: `${publicUrl}/oauth`,
    adminApiResource: `${publicUrl}/api`,
    leadsApiResource: env.LEADS_API_AUDIENCE ?? LEADS_API_DEFAULT_AUDIENCE,
    trustProxy: env.TRUST_PROXY,
    database: env.DATABASE_URL
      ? {
          kind: 'postgres',
          url: env.DATABASE_URL,
          poolMax: env.DATABASE_POOL_MAX,
          migrationUrl: env.DATABASE_MIGRATION_URL,
          preparedStatements: env.DATABASE_PREPARED_STATEMENTS === 'on',
        }
      : { kind: 'embedded', dataDir: env.DATA_DIR },
    logLevel: env.LOG_LEVEL,
    leadsApiClient: {
      id: env.LEADS_API_CLIENT_ID,
      secret: env.LEADS_API_CLIENT_SECRET ?? DEV_DEFAULTS.leadsApiClientSecret,
    },
    leadsApiKeyCheck:
      env.LEADS_API_KEY_CHECK === 'remote'
        ? { mode: 'remote', introspectionUrl: env.LEADS_API_INTROSPECTION_URL! }
        : { mode: env.LEADS_API_KEY_CHECK ?? 'in-write' },
    demoPassword: env.DEMO_PASSWORD ?? DEV_DEFAULTS.demoPassword,
    octivAppRedirectUris: [`${publicUrl}/console/callback`, ...(env.OCTIV_APP_REDIRECT_URIS ?? [])],
    cookieKeys: env.COOKIE_KEYS,
    jwks: env.JWKS,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    secretScanningKeys,
    redisUrl: env.REDIS_URL,
    rateLimits: env.RATE_LIMITS === 'on',
    secretsKey: env.SECRETS_KEY,
    auditRetentionDays: env.AUDIT_RETENTION_DAYS,
    metricsToken: env.METRICS_TOKEN,
    webhookRetrySchedule: env.WEBHOOK_RETRY_SCHEDULE,
    openapiGuard: env.OPENAPI_GUARD === 'on',
  };
}
