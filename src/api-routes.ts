import { z } from 'zod';

import { createApiKeyRoutes } from './api-keys/routes.js';
import type { ApiKeyService } from './api-keys/service.js';
import { createAuditRoutes } from './audit/routes.js';
import type { AuditLog } from './audit/service.js';
import type { Config } from './config.js';
import { createFacilityRoutes } from './facilities/routes.js';
import type { FacilityService } from './facilities/service.js';
import type { SecurityKinds } from './http/answers.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { defineRoute, type AnyRoute } from './http/route.js';
import { createLeadRoutes } from './leads/routes.js';
import type { LeadService } from './leads/service.js';
import { apiKeySecurity } from './resource-server/api-key-answers.js';
import { createSecretScanningRoutes } from './secret-scanning/routes.js';
import type { LeakedKeyReports } from './secret-scanning/service.js';
import { ADMIN_SCOPE } from './shared/clients.js';
import { staffSecurity } from './staff/authenticate.js';
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

/** What each tag of the document is about: a route's tag must be one of these. */
export const API_TAGS: Record<string, string> = {
  Staff: 'The signed-in staff member, the facility\'s staff, and who may manage its integrations.',
  'API keys': 'The facility\'s API keys, for its outside systems: create, rotate, delete, and the scopes a key can carry.',
  Settings: 'The facility\'s locations and its API key policy.',
  Audit: 'The facility\'s audit log: every change to keys and permissions, and every sign-in.',
  'Secret scanning': 'Reports of leaked keys from a secret-scanning partner (GitHub\'s format).',
  Leads: 'The Leads API, for an outside system with an API key: create lead members and read them.',
  Webhooks: 'Webhook endpoints, where the facility\'s events are delivered, signed per Standard Webhooks: their secrets, test events and the deliveries log.',
  Meta: 'This document.',
};

/** What each kind of credential brings to the routes that take it (scheme, answers): for the document and the response guard. */
export function securityKinds(config: Pick<Config, 'issuer' | 'adminApiResource'>): SecurityKinds {
  return {
    staff: staffSecurity({ issuer: config.issuer, adminApiResource: config.adminApiResource, scope: ADMIN_SCOPE }),
    apiKey: apiKeySecurity,
    apiKeyInWrite: apiKeySecurity,
  };
}

/** The OpenAPI document of `routes`. */
export function apiDocument(routes: AnyRoute[], config: Pick<Config, 'publicUrl' | 'issuer' | 'adminApiResource'>): Record<string, unknown> {
  return buildOpenApiDocument(routes, { publicUrl: config.publicUrl, kinds: securityKinds(config), tags: API_TAGS });
}

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
    description: 'Every operation of /api/v1 with every answer it may give, generated from the routes\' own declarations. Cacheable for five minutes.',
    tag: 'Meta',
    security: 'none',
    database: false,
    responses: {
      200: {
        description: 'The OpenAPI document',
        body: z.looseObject({ openapi: z.literal('3.1.0'), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) }),
        headers: { 'Cache-Control': 'always' },
      },
    },
    async handle(ctx) {
      document ??= apiDocument(routes, config);
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.body = document;
    },
  });
}
