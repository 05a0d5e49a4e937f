import type { Context } from 'koa';
import { z } from 'zod';

import { DEFAULT_BODY_LIMIT } from '../http/body.js';
import { defineRoute, type AnyRoute } from '../http/route.js';
import { fingerprintOf, IDEMPOTENCY_ANSWERS, REPLAYED_HEADER } from '../idempotency/service.js';
import { createLeadBody, idempotencyKeyHeader, leadPageSchema, leadSchema, listLeadsQuery } from './schemas.js';
import { presentLead, type LeadService } from './service.js';
import type { Lead } from './store.js';

/** A lead's address: the 201's `Location`, served by GET to the key that created it. */
export const leadPath = (id: string) => `/api/v1/leads/${id}`;

function sendLead(ctx: Context, lead: Lead, status: 200 | 201): void {
  ctx.status = status;
  if (status === 201) ctx.set('Location', leadPath(lead.id));
  ctx.body = presentLead(lead);
}

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
      security: 'apiKeyInWrite',
      requires: { scope: 'leads:create', places: true },
      body: createLeadBody,
      bodyLimit: DEFAULT_BODY_LIMIT,
      requestHeaders: {
        'Idempotency-Key': {
          description: '1 to 255 characters; scoped to the API key and kept at least 24 hours.',
          schema: idempotencyKeyHeader,
          answers: IDEMPOTENCY_ANSWERS,
        },
      },
      responses: {
        201: { description: 'Created; `Location` names the new lead.', body: leadSchema, headers: { Location: 'always' } },
        409: { description: 'A member with this email exists: `leadId` names it.', body: z.object({ leadId: z.uuid() }) },
      },
      async handle(ctx, { principal, body, headers }) {
        const key = headers['idempotency-key'] as string | undefined;
        const idempotencyKey = key === undefined ? undefined : { key, fingerprint: fingerprintOf(ctx.method, ctx.path, body) };
        const { lead, replayed } = await deps.service.create(principal, body, idempotencyKey);
        sendLead(ctx, lead, 201);
        if (replayed) ctx.set(REPLAYED_HEADER, 'true');
      },
    }),
    defineRoute({
      method: 'get',
      path: '/leads',
      operationId: 'listLeads',
      summary: 'The facility\'s leads, oldest first, after a cursor (API key with scope leads:read)',
      description:
        'Every lead of the facility, whatever created it (of the key\'s locations, for a key limited to some), oldest first. Poll with the `nextCursor` of the last page: no lead is missed or repeated, even while leads are being written. `nextCursor` is on every page, also an empty one.',
      tag: 'Leads',
      security: 'apiKey',
      requires: { scope: 'leads:read' },
      query: listLeadsQuery,
      responses: {
        200: { description: 'A page of leads and where to poll next', body: leadPageSchema },
        403: { description: 'The API key is limited to other locations than `locationId` (`errors` names it).' },
      },
      async handle(ctx, { principal, query }) {
        const page = await deps.service.list(principal, query);
        ctx.body = { items: page.items.map(presentLead), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/leads/:id',
      operationId: 'getLead',
      summary: 'A lead: any of the facility\'s with leads:read; with only leads:create, one this key created (the `Location` of its 201)',
      description: 'An unknown id, another facility\'s lead (or with only leads:create, another key\'s) is 404.',
      tag: 'Leads',
      security: 'apiKey',
      requires: { scope: ['leads:read', 'leads:create'] },
      params: z.object({ id: z.uuid() }),
      responses: { 200: { description: 'The lead, as the 201 gave it', body: leadSchema } },
      async handle(ctx, { principal, params }) {
        sendLead(ctx, await deps.service.get(principal, params.id), 200);
      },
    }),
  ];
}
