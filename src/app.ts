import Router from '@koa/router';
import Koa from 'koa';
import mount from 'koa-mount';

import { apiDocument, apiRoutes, securityKinds } from './api-routes.js';
import { createConsoleRouter } from './console/routes.js';
import { databaseIsReady } from './db/database.js';
import { createErrorHandler } from './http/error-handler.js';
import { createPublicOrigin, createRequestContext, createSecurityHeaders } from './http/request-context.js';
import { createResponseGuard } from './http/response-guard.js';
import { mountRoutes, type AnyRoute, type Authenticators } from './http/route.js';
import { createOAuthFailureLimit } from './limits/oauth-failures.js';
import { createMetricsRoute } from './metrics/metrics.js';
import { createInteractionRouter } from './oauth/interaction.js';
import { createOAuthPages } from './oauth/pages.js';
import { createApiKeyAuthentication } from './resource-server/api-key-auth.js';
import { createLocalIntrospector } from './resource-server/introspection.js';
import { createRemoteIntrospector } from './resource-server/remote-introspection.js';
import type { Services } from './services.js';
import { ADMIN_SCOPE } from './shared/clients.js';
import { createStaffAuthenticator } from './staff/authenticate.js';

/** How each kind of caller is authenticated (see http/route.ts `Authenticators`). */
function createAuthenticators(services: Services, provider: NonNullable<Services['provider']>): Authenticators {
  const { config, limits } = services;
  const keyCheck = config.leadsApiKeyCheck;
  const apiKey = createApiKeyAuthentication({
    mode: keyCheck.mode,
    verifier: services.verifier,
    // A Leads API run apart asks the authorization server over RFC 7662.
    remote:
      keyCheck.mode === 'remote'
        ? createRemoteIntrospector({ endpoint: keyCheck.introspectionUrl, clientId: config.leadsApiClient.id, clientSecret: config.leadsApiClient.secret })
        : undefined,
    requirements: services.requirements,
    usage: services.usage,
    limits,
  });
  return {
    staff: createStaffAuthenticator({ introspector: createLocalIntrospector(provider), staffStore: services.staffStore, audience: config.adminApiResource, scope: ADMIN_SCOPE }),
    apiKey,
    apiKeyInWrite: apiKey,
  };
}

/**
 * The HTTP application: the middlewares, the JSON API's routes, health and
 * metrics, the console, the sign-in pages and oidc-provider, over the
 * services the composition root built (`createServices`). It builds no
 * service of its own.
 */
export function createApp(services: Services, options: { extraRoutes?: AnyRoute[] } = {}): Koa {
  const { config, provider, limits, metrics } = services;
  if (!provider) throw new Error('the HTTP app needs services built for a server (role "server")');
  // koa-mount runs the provider on the parent's context, so both sign cookies with the same keys.
  const app = new Koa({ proxy: config.trustProxy, keys: provider.keys as string[] });

  // Every URL the server writes comes from PUBLIC_URL, whatever the request target's form.
  app.use(createPublicOrigin(config.publicUrl));
  if (metrics) app.use(metrics.middleware);
  app.use(createRequestContext(services.logger));
  app.use(createSecurityHeaders({ https: config.publicUrl.startsWith('https://') }));
  // Extra routes: tests mount routes that misbehave on purpose (a key check forgotten) beside the real ones.
  const routes = [...apiRoutes(services, config), ...(options.extraRoutes ?? [])];
  const problemBaseUrl = `${config.publicUrl}/problems`;
  // Tests and development: every /api/v1 answer is held to what its route declares.
  if (config.openapiGuard) app.use(createResponseGuard({ routes, kinds: securityKinds(config), problemBaseUrl }));
  app.use(createErrorHandler({ problemBaseUrl }));
  if (limits) app.use(createOAuthFailureLimit(limits.failures));
  // RFC 7662 for resource servers, answered by the key verifier before the provider.
  app.use(services.keyIntrospection);

  const api = new Router({ prefix: '/api/v1' });
  api.use(function noStore(ctx, next) {
    ctx.set('Cache-Control', 'no-store');
    return next();
  });
  mountRoutes(api, routes, createAuthenticators(services, provider));
  // The JSON APIs first (the Leads API is the hot path); the prefixes below do not overlap.
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: true }));

  const health = new Router();
  if (metrics && config.metricsToken) health.get('/metrics', createMetricsRoute(metrics, config.metricsToken));
  health.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  health.get('/readyz', async (ctx) => {
    const ready = await databaseIsReady(services.database.knex);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'database unavailable', ...(services.warnings.length ? { warnings: services.warnings } : {}) };
  });
  app.use(health.routes());

  const openApiDocument = () => apiDocument(routes, config);
  app.use(createConsoleRouter({ openApiDocument }).routes());
  app.use(createOAuthPages({ publicUrl: config.publicUrl, formTargets: config.octivAppRedirectUris }));
  app.use(createInteractionRouter({ provider, signIn: services.signIn, audit: services.audit, publicUrl: config.publicUrl }).routes());
  app.use(mount('/oauth', provider));

  return app;
}
