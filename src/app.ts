import Router from '@koa/router';
import type { Knex } from 'knex';
import Koa from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';

import { isMalformedKey } from './api-keys/key-format.js';
import { createApiKeyRoutes } from './api-keys/routes.js';
import { createApiKeyService } from './api-keys/service.js';
import { LEADS_CREATE } from './api-keys/scopes.js';
import { createApiKeyStore } from './api-keys/store.js';
import { createUsageTracker, type UsageTracker } from './api-keys/usage.js';
import { createApiKeyVerifier, type Requirement } from './api-keys/verifier.js';
import type { Config } from './config.js';
import { createConsoleRouter } from './console/routes.js';
import { databaseIsReady } from './db/knex.js';
import type { HousekeepingTask } from './db/housekeeping.js';
import { createFacilityRoutes } from './facilities/routes.js';
import { createFacilityService } from './facilities/service.js';
import { createFacilityStore } from './facilities/store.js';
import { createErrorHandler } from './http/error-handler.js';
import { createRequestContext, createSecurityHeaders } from './http/request-context.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { defineRoute, mountRoutes, type AnyRoute, type Authenticators } from './http/route.js';
import type { Logger } from './logger.js';
import { deleteExpiredPayloads } from './oauth/adapter.js';
import { resourceServerClients } from './oauth/clients.js';
import { createInteractionRouter } from './oauth/interaction.js';
import { createKeyIntrospection } from './oauth/key-introspection.js';
import { ADMIN_SCOPE, createProvider } from './oauth/provider.js';
import { loadServerKeys } from './oauth/server-keys.js';
import { createIdempotency, RETENTION_HOURS } from './idempotency/service.js';
import { createIdempotencyStore } from './idempotency/store.js';
import { createLeadRoutes } from './leads/routes.js';
import { createLeadService } from './leads/service.js';
import { createLeadStore } from './leads/store.js';
import { createApiKeyAuthentication } from './resource-server/api-key-auth.js';
import { createLocalIntrospector } from './resource-server/introspection.js';
import { createRemoteIntrospector } from './resource-server/remote-introspection.js';
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
}

/**
 * The one place where everything is wired: stores, services and routers are
 * created here from the dependencies passed in, and nowhere else.
 */
export function createApp(deps: AppDeps): Koa {
  const { config, db, logger, provider, usage } = deps;
  // koa-mount runs the provider on the parent's context, so both sign cookies with the same keys.
  const app = new Koa({ proxy: config.trustProxy, keys: provider.keys as string[] });

  // What the Leads API requires of a key; the verifier judges every key against it.
  const leadsRequirement: Requirement = { audience: config.leadsApiResource, scope: LEADS_CREATE };
  const verifier = createApiKeyVerifier(db);
  const staffStore = createStaffStore(db);
  const staffService = createStaffService({ store: staffStore });
  const facilityStore = createFacilityStore(db);
  const apiKeyService = createApiKeyService({ config, db, provider, store: createApiKeyStore(db), facilities: facilityStore, requirement: leadsRequirement });
  const leadService = createLeadService({
    store: createLeadStore(db),
    idempotency: createIdempotency({ store: createIdempotencyStore(db) }),
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
    }),
  };

  app.use(createRequestContext(logger));
  app.use(createSecurityHeaders({ https: config.publicUrl.startsWith('https://') }));
  app.use(createErrorHandler({ problemBaseUrl: `${config.publicUrl}/problems` }));
  // RFC 7662 for resource servers, answered by the key verifier before the provider.
  app.use(createKeyIntrospection({ verifier, clients: resourceServerClients(config), issuer: config.issuer, usage }));

  const api = new Router({ prefix: '/api/v1' });
  api.use(async function noStore(ctx, next) {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  const routes: AnyRoute[] = [
    ...createStaffRoutes({ service: staffService }),
    ...createApiKeyRoutes({ service: apiKeyService }),
    ...createFacilityRoutes({ service: createFacilityService({ store: facilityStore }) }),
    ...createLeadRoutes({ service: leadService }),
  ];
  routes.push(createOpenApiRoute(routes, config));
  mountRoutes(api, routes, authenticators);
  // The JSON APIs first (the Leads API is the hot path); the prefixes below do not overlap.
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: true }));

  const health = new Router();
  health.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  health.get('/readyz', async (ctx) => {
    const ready = await databaseIsReady(db);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'database unavailable' };
  });
  app.use(health.routes());

  app.use(createConsoleRouter().routes());
  app.use(createInteractionRouter({ provider, signIn: createSignIn({ staffStore, production: config.production }) }).routes());
  app.use(mount('/oauth', provider));

  return app;
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
 * Loads keys, builds the provider and the app: everything a process serves.
 * `stop()` (after the server stopped taking requests) writes what is still
 * pending, such as the last use of keys.
 */
export async function createSystem(deps: Omit<AppDeps, 'provider' | 'usage'> & { usageFlushIntervalMs?: number }) {
  const { config, db, logger } = deps;
  const keys = await loadServerKeys(db, { jwks: config.jwks, cookieKeys: config.cookieKeys });
  const provider = createProvider({ config, db, logger, keys, staffStore: createStaffStore(db), isMalformedToken: isMalformedKey });
  const usage = createUsageTracker({ db, logger, ...(deps.usageFlushIntervalMs ? { flushIntervalMs: deps.usageFlushIntervalMs } : {}) });
  const app = createApp({ config, db, logger, provider, usage });
  const idempotencyStore = createIdempotencyStore(db);
  const housekeeping: HousekeepingTask[] = [
    { name: 'expired OAuth payloads', run: () => deleteExpiredPayloads(db) },
    { name: 'old idempotency records', run: () => idempotencyStore.deleteOlderThan(RETENTION_HOURS) },
  ];
  return { app, provider, housekeeping, usage, stop: () => usage.stop() };
}
