import { z } from 'zod';

import { defineRoute, type AnyRoute } from '../http/route.js';
import { requirePermission } from '../staff/authenticate.js';
import type { ApiKey } from './model.js';
import { apiKeyIdParams, apiKeySchema, createApiKeyBody, createdApiKeySchema, scopeSchema } from './schemas.js';
import { SCOPES } from './scopes.js';
import type { ApiKeyService } from './service.js';

function present(apiKey: ApiKey) {
  return {
    id: apiKey.id,
    name: apiKey.name,
    scopes: apiKey.scopes,
    createdAt: apiKey.createdAt.toISOString(),
    createdBy: apiKey.createdBy,
    status: apiKey.status,
  };
}

/** Settings > System Integrations: the scope catalogue and the facility's API keys. */
export function createApiKeyRoutes(deps: { service: ApiKeyService }): AnyRoute[] {
  const { service } = deps;
  const systemIntegrations = requirePermission('systemIntegrations');

  return [
    defineRoute({
      method: 'get',
      path: '/scopes',
      operationId: 'listScopes',
      summary: 'Scopes an API key can carry',
      tag: 'API keys',
      security: 'staff',
      responses: { 200: { description: 'The scope catalogue', body: z.object({ items: z.array(scopeSchema) }) } },
      async handle(ctx) {
        ctx.body = { items: SCOPES.map(({ name, description }) => ({ name, description })) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api-keys',
      operationId: 'listApiKeys',
      summary: 'The facility\'s API keys, newest first (never the keys themselves)',
      description: 'Needs the System Integrations permission.',
      tag: 'API keys',
      security: 'staff',
      guards: [systemIntegrations],
      responses: { 200: { description: 'Live keys', body: z.object({ items: z.array(apiKeySchema) }) } },
      async handle(ctx, { principal }) {
        const keys = await service.list(principal);
        ctx.body = { items: keys.map(present) };
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
        201: { description: 'Created; `key` is shown only in this response', body: createdApiKeySchema },
        409: { description: 'A live key of this facility already has this name' },
      },
      async handle(ctx, { principal, body }) {
        const { apiKey, key } = await service.create(principal, body);
        ctx.status = 201;
        ctx.set('Location', `/api/v1/api-keys/${apiKey.id}`);
        ctx.body = { ...present(apiKey), key };
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
        await service.end({ facilityId: principal.facilityId, id: params.id }, { kind: 'deleted', actor: { type: 'staff', id: principal.id }, reason: 'deleted' });
        ctx.status = 204;
      },
    }),
  ];
}
