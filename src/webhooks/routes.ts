import type { Context } from 'koa';
import { z } from 'zod';

import { requestOrigin } from '../http/request-context.js';
import { defineRoute, type AnyRoute } from '../http/route.js';
import { requirePermission } from '../staff/authenticate.js';
import type { StaffMember } from '../staff/model.js';
import { createEndpointBody, deliveriesQuery, deliverySchema, endpointSchema, endpointWithSecretSchema, idParams, updateEndpointBody } from './schemas.js';
import type { WebhookService } from './service.js';
import type { Delivery, WebhookEndpoint } from './store.js';

const iso = (date: Date | null) => date && date.toISOString();

/** An endpoint as the admin API presents it (never a secret but the one just made). */
export function presentEndpoint(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    events: endpoint.events,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    createdAt: endpoint.createdAt.toISOString(),
    createdBy: endpoint.createdBy,
    secretHint: endpoint.secretHint,
  };
}

export function presentDelivery(delivery: Delivery) {
  return {
    id: delivery.id,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    createdAt: delivery.createdAt.toISOString(),
    status: delivery.status,
    attempts: delivery.attempts,
    lastAttemptAt: iso(delivery.lastAttemptAt),
    nextAttemptAt: iso(delivery.nextAttemptAt),
    responseStatus: delivery.responseStatus,
    durationMs: delivery.durationMs,
    error: delivery.error,
  };
}

/** An endpoint with its new secret, shown this once: never cached. */
function sendSecret(ctx: Context, made: { endpoint: WebhookEndpoint; secret: string }): void {
  ctx.status = 201;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Location', `/api/v1/webhook-endpoints/${made.endpoint.id}`);
  ctx.body = { ...presentEndpoint(made.endpoint), secret: made.secret };
}

/** The headers of an answer that shows a secret (see `sendSecret`). */
const secretHeaders = { Location: 'always', 'Cache-Control': 'always' } as const;

const caller = (ctx: Context, staff: StaffMember) => ({ staff, origin: requestOrigin(ctx) });
const systemIntegrations = requirePermission('systemIntegrations');
const common = { tag: 'Webhooks', security: 'staff' as const, guards: [systemIntegrations] };

/** Settings > System Integrations > Webhooks: endpoints, their secrets, test events and the deliveries log. */
export function createWebhookRoutes(deps: { service: WebhookService }): AnyRoute[] {
  return [...endpointRoutes(deps.service), ...deliveryRoutes(deps.service)];
}

function endpointRoutes(service: WebhookService): AnyRoute[] {
  return [
    defineRoute({
      ...common,
      method: 'get',
      path: '/webhook-endpoints',
      operationId: 'listWebhookEndpoints',
      description: 'Needs the System Integrations permission. An endpoint turned off by the server says why in `disabledReason`.',
      summary: 'The facility\'s webhook endpoints, newest first (never a secret)',
      responses: { 200: { description: 'The endpoints', body: z.object({ items: z.array(endpointSchema) }) } },
      async handle(ctx, { principal }) {
        ctx.body = { items: (await service.list(caller(ctx, principal))).map(presentEndpoint) };
      },
    }),
    defineRoute({
      ...common,
      method: 'post',
      path: '/webhook-endpoints',
      operationId: 'createWebhookEndpoint',
      description: 'Needs the System Integrations permission. The URL must be https on a public address in production (private, loopback, link-local and metadata addresses are refused, now and at each delivery). The answer has `Cache-Control: no-store`.',
      summary: 'Add a webhook endpoint; the answer holds its signing secret, shown this once',
      body: createEndpointBody,
      responses: { 201: { description: 'Created; `secret` is shown only in this answer, which is never cached.', body: endpointWithSecretSchema, headers: secretHeaders } },
      async handle(ctx, { principal, body }) {
        sendSecret(ctx, await service.create(caller(ctx, principal), body));
      },
    }),
    defineRoute({
      ...common,
      method: 'get',
      path: '/webhook-endpoints/:id',
      operationId: 'getWebhookEndpoint',
      description: 'Needs the System Integrations permission. Another facility\'s endpoint, or an unknown id, is 404.',
      summary: 'One webhook endpoint',
      params: idParams,
      responses: { 200: { description: 'The endpoint', body: endpointSchema } },
      async handle(ctx, { principal, params }) {
        ctx.body = presentEndpoint(await service.get(caller(ctx, principal), params.id));
      },
    }),
    defineRoute({
      ...common,
      method: 'patch',
      path: '/webhook-endpoints/:id',
      operationId: 'updateWebhookEndpoint',
      description: 'Needs the System Integrations permission. Turning an endpoint on again clears why it was off and starts its failures over.',
      summary: 'Change an endpoint\'s URL, events or description, or turn it off or on',
      params: idParams,
      body: updateEndpointBody,
      responses: { 200: { description: 'The endpoint as changed', body: endpointSchema } },
      async handle(ctx, { principal, params, body }) {
        ctx.body = presentEndpoint(await service.update(caller(ctx, principal), params.id, body));
      },
    }),
    defineRoute({
      ...common,
      method: 'delete',
      path: '/webhook-endpoints/:id',
      operationId: 'deleteWebhookEndpoint',
      description: 'Needs the System Integrations permission. Its pending deliveries go with it.',
      summary: 'Delete an endpoint: no more deliveries to it',
      params: idParams,
      responses: { 204: { description: 'Deleted' } },
      async handle(ctx, { principal, params }) {
        await service.delete(caller(ctx, principal), params.id);
        ctx.status = 204;
      },
    }),
    defineRoute({
      ...common,
      method: 'post',
      path: '/webhook-endpoints/:id/rotate-secret',
      operationId: 'rotateWebhookSecret',
      description: 'Needs the System Integrations permission. The previous secret keeps signing for 24 hours (each delivery then carries both signatures); rotating again ends an older one at once.',
      summary: 'A new signing secret, shown this once; for 24 hours deliveries carry signatures by both',
      params: idParams,
      responses: { 201: { description: 'The endpoint with its new `secret`, shown only in this answer, which is never cached.', body: endpointWithSecretSchema, headers: secretHeaders } },
      async handle(ctx, { principal, params }) {
        sendSecret(ctx, await service.rotateSecret(caller(ctx, principal), params.id));
      },
    }),
  ];
}

function deliveryRoutes(service: WebhookService): AnyRoute[] {
  return [
    defineRoute({
      ...common,
      method: 'post',
      path: '/webhook-endpoints/:id/test',
      operationId: 'sendWebhookTest',
      description: 'Needs the System Integrations permission. The event goes to this endpoint only, whatever events it wants; see its deliveries log.',
      summary: 'Deliver a `webhook.test` event to this endpoint now',
      params: idParams,
      responses: {
        202: { description: 'On its way; see the deliveries log', body: z.object({ eventId: z.string() }) },
        409: { description: 'The endpoint is turned off; nothing was queued' },
      },
      async handle(ctx, { principal, params }) {
        ctx.status = 202;
        ctx.body = await service.sendTest(caller(ctx, principal), params.id);
      },
    }),
    defineRoute({
      ...common,
      method: 'get',
      path: '/webhook-endpoints/:id/deliveries',
      operationId: 'listWebhookDeliveries',
      description: 'Needs the System Integrations permission. Filter by `status`; `nextCursor` (null on the last page) gives the next page.',
      summary: 'An endpoint\'s deliveries, newest first',
      params: idParams,
      query: deliveriesQuery,
      responses: { 200: { description: 'A page of deliveries', body: z.object({ items: z.array(deliverySchema), nextCursor: z.string().nullable() }) } },
      async handle(ctx, { principal, params, query }) {
        const page = await service.deliveries(caller(ctx, principal), params.id, query);
        ctx.body = { items: page.items.map(presentDelivery), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      ...common,
      method: 'post',
      path: '/webhook-deliveries/:id/retry',
      operationId: 'retryWebhookDelivery',
      description: 'Needs the System Integrations permission. Whatever the delivery came to before, one more attempt is made now (with the same webhook-id).',
      summary: 'Deliver a delivery again, now',
      params: idParams,
      responses: {
        202: { description: 'On its way again: the delivery is pending until the attempt', body: z.object({ id: z.uuid(), status: z.literal('pending') }) },
        409: { description: 'Its endpoint is turned off; nothing changed' },
      },
      async handle(ctx, { principal, params }) {
        await service.retry(caller(ctx, principal), params.id);
        ctx.status = 202;
        ctx.body = { id: params.id, status: 'pending' };
      },
    }),
  ];
}
