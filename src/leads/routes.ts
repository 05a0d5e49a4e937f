import type { Context } from 'koa';

import { DEFAULT_BODY_LIMIT } from '../http/body.js';
import { defineRoute, type AnyRoute } from '../http/route.js';
import { fingerprintOf, REPLAYED_HEADER } from '../idempotency/service.js';
import type { StoredResponse } from '../idempotency/store.js';
import type { ApiKeyState, PendingApiKeyState } from '../resource-server/api-key-auth.js';
import { createLeadBody, idempotencyKeyHeader, leadSchema } from './schemas.js';
import type { LeadService } from './service.js';

/** The Leads API: outside systems create lead members with an API key. */
export function createLeadRoutes(deps: { service: LeadService }): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/leads',
      operationId: 'createLead',
      summary: 'Create a lead member (API key with scope leads:create)',
      description:
        'Send `Authorization: Bearer oct_pat_...`. With an `Idempotency-Key`, retries with the same body replay the first response (`Idempotent-Replayed: true`).',
      tag: 'Leads',
      security: 'apiKey',
      checksApiKeyInWrite: true,
      body: createLeadBody,
      bodyLimit: DEFAULT_BODY_LIMIT,
      requestHeaders: {
        'Idempotency-Key': {
          description: '1 to 255 characters; scoped to the API key and kept at least 24 hours.',
          schema: idempotencyKeyHeader,
        },
      },
      responses: {
        201: { description: 'Created; `Location` names the new lead', body: leadSchema },
        409: { description: 'A member with this email exists (`leadId` names it), or this Idempotency-Key is still in flight' },
        413: { description: 'Body over 16 KiB' },
        415: { description: 'Body is not JSON' },
        422: { description: 'Idempotency-Key reused with a different body' },
      },
      async handle(ctx, { body, headers }) {
        const key = headers['idempotency-key'] as string | undefined;
        const idempotencyKey = key === undefined ? undefined : { key, fingerprint: fingerprintOf(ctx.method, ctx.path, body) };
        const pending = (ctx.state as PendingApiKeyState).pendingApiKey;
        // The common case in one round trip: the key is checked in the insert itself
        // (and a first Idempotency-Key recorded by it).
        const checkedInWrite = pending ? await deps.service.createCheckingKey(pending.check, body, idempotencyKey) : undefined;
        if (checkedInWrite) {
          send(ctx, checkedInWrite, false);
          return;
        }
        const apiKey = pending ? await pending.authenticate() : (ctx.state as ApiKeyState).apiKey;
        const { response, replayed } = await deps.service.create(apiKey, body, idempotencyKey);
        send(ctx, response, replayed);
      },
    }),
  ];
}

function send(ctx: Context, response: StoredResponse, replayed: boolean): void {
  ctx.status = response.status;
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  if (replayed) ctx.set(REPLAYED_HEADER, 'true');
  ctx.body = response.body;
}
