import type { Context } from 'koa';
import { z } from 'zod';

import { requestOrigin } from '../http/request-context.js';
import { defineRoute, type AnyRoute } from '../http/route.js';
import type { StaffMember } from '../staff/model.js';
import { requirePermission } from '../staff/authenticate.js';
import { staffActor } from '../audit/service.js';
import type { ApiKey } from './model.js';
import { apiKeyIdParams, apiKeySchema, createApiKeyBody, createdApiKeySchema, rotateBody, scopeSchema, usageQuery, usageSchema } from './schemas.js';
import { SCOPES } from './scopes.js';
import type { ApiKeyService } from './service.js';

const iso = (date: Date | null) => date && date.toISOString();

/** A key as the admin API presents it (never the key itself, nor its hash). */
export function presentApiKey(apiKey: ApiKey) {
  return {
    id: apiKey.id,
    name: apiKey.name,
    scopes: apiKey.scopes,
    locationIds: apiKey.locationIds,
    createdAt: apiKey.createdAt.toISOString(),
    createdBy: apiKey.createdBy,
    status: apiKey.status,
    expiresAt: iso(apiKey.expiresAt),
    rateLimit: apiKey.rateLimit,
    hint: apiKey.hint,
    lastUsedAt: iso(apiKey.lastUsedAt),
    lastUsedIp: apiKey.lastUsedIp,
    leadsCreated: apiKey.leadsCreated,
    rotation: apiKey.rotation && { previousExpiresAt: apiKey.rotation.previousExpiresAt.toISOString(), previousLastUsedAt: iso(apiKey.rotation.previousLastUsedAt) },
    revocation: apiKey.revocation && { ...apiKey.revocation, revokedAt: apiKey.revocation.revokedAt.toISOString() },
  };
}

/** A key with its new secret, shown this once: never cached. */
function sendSecret(ctx: Context, created: { apiKey: ApiKey; key: string }): void {
  ctx.status = 201;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Location', `/api/v1/api-keys/${created.apiKey.id}`);
  ctx.body = { ...presentApiKey(created.apiKey), key: created.key };
}

const caller = (ctx: Context, staff: StaffMember) => ({ staff, origin: requestOrigin(ctx) });

/** The headers of an answer that shows a secret (see `sendSecret`). */
const secretHeaders = { Location: 'always', 'Cache-Control': 'always' } as const;

/** Settings > System Integrations: the scope catalogue and the facility's API keys. */
export function createApiKeyRoutes(deps: { service: ApiKeyService }): AnyRoute[] {
  return [...catalogueRoutes(), ...keyRoutes(deps.service), ...lifecycleRoutes(deps.service)];
}

const systemIntegrations = requirePermission('systemIntegrations');

/** GET /scopes: what a key can be allowed to do. */
function catalogueRoutes(): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/scopes',
      operationId: 'listScopes',
      summary: 'Scopes an API key can carry',
      description: 'What each scope lets a key do, in words a gym owner understands. Any signed-in staff member may read it.',
      tag: 'API keys',
      security: 'staff',
      responses: { 200: { description: 'The scope catalogue', body: z.object({ items: z.array(scopeSchema) }) } },
      async handle(ctx) {
        ctx.body = { items: SCOPES.map(({ name, description }) => ({ name, description })) };
      },
    }),
  ];
}

/** List, create and read keys. */
function keyRoutes(service: ApiKeyService): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api-keys',
      operationId: 'listApiKeys',
      summary: 'The facility\'s API keys, newest first (never the keys themselves)',
      description: 'Needs the System Integrations permission. Expired and revoked keys stay listed until deleted.',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      responses: { 200: { description: 'The keys', body: z.object({ items: z.array(apiKeySchema) }) } },
      async handle(ctx, { principal }) {
        const keys = await service.list(caller(ctx, principal));
        ctx.body = { items: keys.map(presentApiKey) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api-keys',
      operationId: 'createApiKey',
      summary: 'Create an API key; the response holds the key, shown this once',
      description: 'Needs the System Integrations permission. The response has `Cache-Control: no-store`.',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      body: createApiKeyBody,
      responses: {
        201: { description: 'Created; `key` is shown only in this answer, which is never cached.', body: createdApiKeySchema, headers: secretHeaders },
        409: { description: 'A live key of this facility already has this name' },
      },
      async handle(ctx, { principal, body }) {
        sendSecret(ctx, await service.create(caller(ctx, principal), body));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api-keys/:id',
      operationId: 'getApiKey',
      summary: 'One API key (the same fields as the list)',
      description: 'Needs the System Integrations permission. Never the key itself.',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      params: apiKeyIdParams,
      responses: { 200: { description: 'The key', body: apiKeySchema } },
      async handle(ctx, { principal, params }) {
        ctx.body = presentApiKey(await service.get(caller(ctx, principal), params.id));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api-keys/:id/usage',
      operationId: 'getApiKeyUsage',
      summary: 'A key\'s use day by day: leads created, requests, and refusals by reason',
      description:
        'One entry per UTC day, oldest first, today last; days without use are there with zeros. Counted from every process, at most a minute behind. A refused request counts when it presented a secret the server knows as this key\'s (a rotated-out, revoked or expired one, a missing scope, the rate limit); an unknown or malformed value names no key and is not counted.',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      params: apiKeyIdParams,
      query: usageQuery,
      responses: { 200: { description: 'The key\'s days', body: usageSchema } },
      async handle(ctx, { principal, params, query }) {
        ctx.body = { days: await service.usage(caller(ctx, principal), params.id, query.days) };
      },
    }),
  ];
}

/** Rotate a key, end its grace period, delete it. */
function lifecycleRoutes(service: ApiKeyService): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/api-keys/:id/rotate',
      operationId: 'rotateApiKey',
      summary: 'Rotate a key: a new secret, shown this once; the previous one keeps working for the grace period',
      description:
        'Same id, name, scopes, expiry and limits. Rotating again during a grace period ends the older secret at once. An expired or revoked key cannot be rotated (409).',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      params: apiKeyIdParams,
      body: rotateBody,
      responses: {
        201: { description: 'Rotated; `key` is the new secret, shown only in this answer, which is never cached.', body: createdApiKeySchema, headers: secretHeaders },
        409: { description: 'The key is expired or revoked' },
      },
      async handle(ctx, { principal, params, body }) {
        sendSecret(ctx, await service.rotate(caller(ctx, principal), params.id, body.graceSeconds));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api-keys/:id/previous',
      operationId: 'endApiKeyGrace',
      summary: 'End a rotation\'s grace period now: the previous secret stops working at once',
      description: 'No rotation in progress: 404.',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      params: apiKeyIdParams,
      responses: { 204: { description: 'The previous secret no longer works' } },
      async handle(ctx, { principal, params }) {
        await service.endGrace(caller(ctx, principal), params.id);
        ctx.status = 204;
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api-keys/:id',
      operationId: 'deleteApiKey',
      summary: 'Delete an API key: immediate and final',
      description: 'Needs the System Integrations permission. Any system still using the key loses access at once.',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      params: apiKeyIdParams,
      responses: { 204: { description: 'Deleted' } },
      async handle(ctx, { principal, params }) {
        await service.end(
          { facilityId: principal.facilityId, id: params.id },
          { kind: 'deleted', actor: staffActor(principal), reason: 'deleted by staff', origin: requestOrigin(ctx) },
        );
        ctx.status = 204;
      },
    }),
  ];
}
