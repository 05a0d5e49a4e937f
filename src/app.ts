import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import Router from '@koa/router';
import type { Knex } from 'knex';
import Koa from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';

import { KEY_PREFIX } from './api-keys/key-format.js';
import { createApiKeyRoutes } from './api-keys/routes.js';
import { createApiKeyService } from './api-keys/service.js';
import { LEADS_CREATE } from './api-keys/scopes.js';
import { createApiKeyStore } from './api-keys/store.js';
import { createUsageTracker, type UsageTracker } from './api-keys/usage.js';
import { createApiKeyVerifier, type Requirement } from './api-keys/verifier.js';
import { createAuditRoutes } from './audit/routes.js';
import { createAuditLog, type AuditLog } from './audit/service.js';
import { createAuditStore } from './audit/store.js';
import type { Config } from './config.js';
import { createConsoleRouter } from './console/routes.js';
import { databaseIsReady } from './db/knex.js';
import type { HousekeepingTask } from './db/housekeeping.js';
import { createFailureLimits, type FailureLimits } from './limits/failure-limits.js';
import { createKeyLimits, type KeyLimits } from './limits/key-limits.js';
import { createOAuthFailureLimit } from './limits/oauth-failures.js';
import { createSignInLimits, type SignInLimits } from './limits/sign-in-limits.js';
import { createLimitStore, deleteExpiredCounters, type LimitStore } from './limits/store.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createFacilityRoutes } from './facilities/routes.js';
import { createFacilityService } from './facilities/service.js';
import { createFacilityStore } from './facilities/store.js';
import { createErrorHandler } from './http/error-handler.js';
import { createPublicOrigin, createRequestContext, createSecurityHeaders } from './http/request-context.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { defineRoute, mountRoutes, type AnyRoute, type Authenticators } from './http/route.js';
import type { Logger } from './logger.js';
import { deleteExpiredPayloads } from './oauth/adapter.js';
import { resourceServerClients } from './oauth/clients.js';
import { createInteractionRouter } from './oauth/interaction.js';
import { createKeyIntrospection } from './oauth/key-introspection.js';
import { createOAuthPages } from './oauth/pages.js';
import { ADMIN_SCOPE, createProvider } from './oauth/provider.js';
import { derivedKeys, loadServerKeys, type ServerKeys } from './oauth/server-keys.js';
import { createIdempotency, RETENTION_HOURS } from './idempotency/service.js';
import { createIdempotencyStore } from './idempotency/store.js';
import { createLeadRoutes } from './leads/routes.js';
import { createLeadService } from './leads/service.js';
import { createLeadStore } from './leads/store.js';
import { createApiKeyAuthentication } from './resource-server/api-key-auth.js';
import { createLocalIntrospector } from './resource-server/introspection.js';
import { createRemoteIntrospector } from './resource-server/remote-introspection.js';
import { createSecretScanningRoutes } from './secret-scanning/routes.js';
import { createLeakedKeyReports } from './secret-scanning/service.js';
import { createStaffAuthenticator } from './staff/authenticate.js';
import { createStaffRoutes } from './staff/routes.js';
import { createStaffService } from './staff/service.js';
import { createSignIn } from './staff/sign-in.js';
import { createStaffStore } from './staff/store.js';

export interface AppDeps {
  config: Config;
  db: Knex;
  logger: Logger;
  provider: Provider;
  usage: UsageTracker;
  audit: AuditLog;
  /** Found at start: said in /readyz's body (they do not make it fail). */
  warnings?: string[];
  /** Rate limits (absent with RATE_LIMITS=off). */
  limits?: Limits;
  /** Prometheus metrics (absent without METRICS_TOKEN). */
  metrics?: Metrics;
}

export interface Limits {
  store: LimitStore;
  keys: KeyLimits;
  failures: FailureLimits;
  signIn: SignInLimits;
}

/**
 * The one place where everything is wired: stores, services and routers are
 * created here from the dependencies passed in, and nowhere else.
 */
export function createApp(deps: AppDeps): Koa {
  const { config, db, logger, provider, usage, audit, limits, metrics } = deps;
  // koa-mount runs the provider on the parent's context, so both sign cookies with the same keys.
  const app = new Koa({ proxy: config.trustProxy, keys: provider.keys as string[] });

  // What the Leads API requires of a key; the verifier judges every key against it.
  const leadsRequirement: Requirement = { audience: config.leadsApiResource, scope: LEADS_CREATE };
  const verifier = createApiKeyVerifier(db);
  const staffStore = createStaffStore(db);
  const staffService = createStaffService({ db, store: staffStore, audit });
  const facilityStore = createFacilityStore(db);
  const apiKeyStore = createApiKeyStore(db);
  const apiKeyService = createApiKeyService({ config, db, provider, store: apiKeyStore, facilities: facilityStore, audit, requirement: leadsRequirement });
  const leadService = createLeadService({
    // Leads arriving while this many statements write are written together (see `insertLive`), leaving the pool room for the rest.
    store: createLeadStore(db, { concurrentWrites: config.database.kind === 'postgres' ? Math.max(1, Math.floor(config.database.poolMax / 2)) : 1 }),
    idempotency: createIdempotency({ store: createIdempotencyStore(db) }),
    ...(metrics ? { onCreated: metrics.leadCreated } : {}),
  });
  const keyCheck = config.leadsApiKeyCheck;
  const authenticators: Authenticators = {
    staff: createStaffAuthenticator({ introspector: createLocalIntrospector(provider), staffStore, audience: config.adminApiResource, scope: ADMIN_SCOPE }),
    apiKey: createApiKeyAuthentication({
      mode: keyCheck.mode,
      verifier,
      // A Leads API run apart asks the authorization server over RFC 7662.
      remote:
        keyCheck.mode === 'remote'
          ? createRemoteIntrospector({ endpoint: keyCheck.introspectionUrl, clientId: config.leadsApiClient.id, clientSecret: config.leadsApiClient.secret })
          : undefined,
      requirement: leadsRequirement,
      usage,
      limits,
    }),
  };

  app.use(createPublicOrigin(config.publicUrl));
  if (metrics) app.use(metrics.middleware);
  app.use(createRequestContext(logger));
  app.use(createSecurityHeaders({ https: config.publicUrl.startsWith('https://') }));
  app.use(createErrorHandler({ problemBaseUrl: `${config.publicUrl}/problems` }));
  if (limits) app.use(createOAuthFailureLimit(limits.failures));
  // RFC 7662 for resource servers, answered by the key verifier before the provider.
  app.use(createKeyIntrospection({ verifier, clients: resourceServerClients(config), issuer: config.issuer, usage }));

  const api = new Router({ prefix: '/api/v1' });
  api.use(function noStore(ctx, next) {
    ctx.set('Cache-Control', 'no-store');
    return next();
  });
  const routes: AnyRoute[] = [
    ...createStaffRoutes({ service: staffService }),
    ...createApiKeyRoutes({ service: apiKeyService }),
    ...createFacilityRoutes({ service: createFacilityService({ db, store: facilityStore, audit }) }),
    ...createAuditRoutes({ audit }),
    ...createSecretScanningRoutes({
      reports: createLeakedKeyReports({ apiKeys: apiKeyService, store: apiKeyStore, verifier, requirement: leadsRequirement }),
      keys: config.secretScanningKeys,
    }),
    ...createLeadRoutes({ service: leadService }),
  ];
  const openApiDocument = () => buildOpenApiDocument(routes, config);
  routes.push(createOpenApiRoute(routes, config));
  mountRoutes(api, routes, authenticators);
  // The JSON APIs first (the Leads API is the hot path); the prefixes below do not overlap.
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: true }));

  const health = new Router();
  if (metrics && config.metricsToken) health.get('/metrics', createMetricsRoute(metrics, config.metricsToken));
  health.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  health.get('/readyz', async (ctx) => {
    const ready = await databaseIsReady(db);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'database unavailable', ...(deps.warnings?.length ? { warnings: deps.warnings } : {}) };
  });
  app.use(health.routes());

  app.use(createConsoleRouter({ openApiDocument }).routes());
  app.use(createOAuthPages({ publicUrl: config.publicUrl, formTargets: config.octivAppRedirectUris }));
  app.use(createInteractionRouter({ provider, signIn: createSignIn({ staffStore, production: config.production, limits: limits?.signIn }), audit, publicUrl: config.publicUrl }).routes());
  app.use(mount('/oauth', provider));

  return app;
}

/** GET /metrics: Prometheus text, to the bearer of METRICS_TOKEN (compared in constant time). */
function createMetricsRoute(metrics: Metrics, token: string) {
  const expected = createHash('sha256').update(token).digest();
  return async function serveMetrics(ctx: Koa.Context): Promise<void> {
    const presented = /^Bearer (.+)$/i.exec(ctx.get('Authorization'))?.[1] ?? '';
    if (!timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'The metrics need Authorization: Bearer <METRICS_TOKEN>.' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}

/** GET /api/v1/openapi.json: the document generated from the routes' own schemas. */
function createOpenApiRoute(routes: AnyRoute[], config: Config): AnyRoute {
  let document: unknown;
  const route: AnyRoute = defineRoute({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI 3.1 document',
    tag: 'Meta',
    security: 'none',
    responses: { 200: { description: 'The OpenAPI document' } },
    async handle(ctx) {
      document ??= buildOpenApiDocument(routes, config);
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.body = document;
    },
  });
  return route;
}

/**
 * What every process clears on a timer (each an idempotent delete in bounded
 * batches, safe from every process at once). The audit log is not here: only
 * the operator's purge removes old events.
 */
export function housekeepingTasks(config: Config, db: Knex): HousekeepingTask[] {
  const idempotencyStore = createIdempotencyStore(db);
  return [
    { name: 'expired OAuth payloads', run: () => deleteExpiredPayloads(db) },
    { name: 'old idempotency records', run: () => idempotencyStore.deleteOlderThan(RETENTION_HOURS) },
    ...(config.database.kind === 'postgres' ? [{ name: 'ended rate-limit counters', run: () => deleteExpiredCounters(db) }] : []),
  ];
}

/**
 * The key that seals stored server keys: SECRETS_KEY; on the embedded
 * database without it, a key made on first start in DATA_DIR/secrets.key
 * (a file beside the database, never in it). Postgres without either stores
 * them in clear: allowed in development only, and said.
 */
async function secretsKeyOf(config: Config, logger: Logger): Promise<string | undefined> {
  if (config.secretsKey) return config.secretsKey;
  if (config.database.kind === 'embedded') {
    const file = path.join(path.resolve(config.database.dataDir), 'secrets.key');
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch {
      const key = randomBytes(32).toString('base64url');
      await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' }).catch(() => undefined);
      return (await readFile(file, 'utf8')).trim();
    }
  }
  if (!(config.cookieKeys && config.jwks)) {
    logger.warn('SECRETS_KEY is not set: the generated signing and cookie keys are stored in the database in clear (refused in production)');
  }
  return undefined;
}

/** The limits of API.md "Limits", on the store the configuration names (see `createLimitStore`). */
async function createLimits(config: Config, db: Knex, logger: Logger, keys: ServerKeys): Promise<Limits> {
  const store = await createLimitStore({ db, databaseKind: config.database.kind, redisUrl: config.redisUrl, logger, secret: derivedKeys(keys, 'rate-limit keys')[0]! });
  logger.info({ store: store.kind }, 'rate limits on');
  return { store, keys: createKeyLimits({ db, store, logger }), failures: createFailureLimits({ store, logger }), signIn: createSignInLimits({ store }) };
}

/**
 * What the configuration breaks, found at start: a Leads API audience that
 * live keys do not carry (LEADS_API_AUDIENCE changed) refuses them all. One
 * log line each, and /readyz repeats them.
 */
async function configurationWarnings(config: Config, db: Knex, logger: Logger): Promise<string[]> {
  const refused = await createApiKeyStore(db).countRefused({ audience: config.leadsApiResource, scope: LEADS_CREATE }, 'wrong_audience');
  if (refused === 0) return [];
  const warning = `${refused} API key(s) carry another audience than LEADS_API_AUDIENCE=${config.leadsApiResource} and are refused everywhere. Set LEADS_API_AUDIENCE back to the audience they were minted for, or replace the keys.`;
  logger.warn({ variable: 'LEADS_API_AUDIENCE', audience: config.leadsApiResource, refusedKeys: refused }, warning);
  return [warning];
}

/**
 * Loads keys, builds the provider and the app: everything a process serves.
 * `stop()` (after the server stopped taking requests) writes what is still
 * pending, such as the last use of keys.
 */
export async function createSystem(deps: Omit<AppDeps, 'provider' | 'usage' | 'audit'> & { usageFlushIntervalMs?: number }) {
  const { config, db, logger } = deps;
  const keys = await loadServerKeys(db, { jwks: config.jwks, cookieKeys: config.cookieKeys, secretsKey: await secretsKeyOf(config, logger) });
  const provider = createProvider({ config, db, logger, keys, staffStore: createStaffStore(db), isApiKey: (value) => value.startsWith(KEY_PREFIX) });
  const audit = createAuditLog({ store: createAuditStore(db) });
  const warnings = await configurationWarnings(config, db, logger);
  const limits = config.rateLimits ? await createLimits(config, db, logger, keys) : undefined;
  const metrics = config.metricsToken ? createMetrics({ db }) : undefined;
  if (metrics) audit.onRecorded(metrics.onAuditEvent);
  const usage = createUsageTracker({ db, logger, audit, ...(deps.usageFlushIntervalMs ? { flushIntervalMs: deps.usageFlushIntervalMs } : {}) });
  const app = createApp({ config, db, logger, provider, usage, audit, warnings, ...(limits ? { limits } : {}), ...(metrics ? { metrics } : {}) });
  const housekeeping = housekeepingTasks(config, db);
  const stop = async () => {
    await usage.stop();
    await limits?.keys.stop();
    await limits?.store.close();
  };
  return { app, provider, housekeeping, usage, limits, metrics, stop };
}
