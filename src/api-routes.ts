import { createApiKeyRoutes } from './api-keys/routes.js';
import type { ApiKeyService } from './api-keys/service.js';
import { createAuditRoutes } from './audit/routes.js';
import type { AuditLog } from './audit/service.js';
import type { Config } from './config.js';
import { createFacilityRoutes } from './facilities/routes.js';
import type { FacilityService } from './facilities/service.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { defineRoute, type AnyRoute } from './http/route.js';
import { createLeadRoutes } from './leads/routes.js';
import type { LeadService } from './leads/service.js';
import { createSecretScanningRoutes } from './secret-scanning/routes.js';
import type { LeakedKeyReports } from './secret-scanning/service.js';
import type { StaffService } from './staff/service.js';
import { createStaffRoutes } from './staff/routes.js';
import { createWebhookRoutes } from './webhooks/routes.js';
import type { WebhookService } from './webhooks/service.js';

/** What the /api/v1 routes call. Only their handlers do: declaring the routes calls none of it. */
export interface ApiRouteServices {
  staff: StaffService;
  apiKeys: ApiKeyService;
  facilities: FacilityService;
  audit: AuditLog;
  leakedKeyReports: LeakedKeyReports;
  leads: LeadService;
  webhooks: WebhookService;
}

export type ApiRouteConfig = Pick<Config, 'publicUrl' | 'issuer' | 'adminApiResource' | 'secretScanningKeys'>;

/**
 * Every route under /api/v1, GET /openapi.json (which documents them all)
 * last. The build lists them with inert services to write the OpenAPI
 * document without a server (src/console/openapi-document.ts).
 */
export function apiRoutes(services: ApiRouteServices, config: ApiRouteConfig): AnyRoute[] {
  const routes: AnyRoute[] = [
    ...createStaffRoutes({ service: services.staff }),
    ...createApiKeyRoutes({ service: services.apiKeys }),
    ...createFacilityRoutes({ service: services.facilities }),
    ...createAuditRoutes({ audit: services.audit }),
    ...createSecretScanningRoutes({ reports: services.leakedKeyReports, keys: config.secretScanningKeys }),
    ...createLeadRoutes({ service: services.leads }),
    ...createWebhookRoutes({ service: services.webhooks }),
  ];
  routes.push(createOpenApiRoute(routes, config));
  return routes;
}

/** GET /api/v1/openapi.json: the document generated from the routes' own schemas. */
function createOpenApiRoute(routes: AnyRoute[], config: ApiRouteConfig): AnyRoute {
  let document: unknown;
  return defineRoute({
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
}
