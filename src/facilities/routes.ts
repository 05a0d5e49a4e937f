import { z } from 'zod';

import { requestOrigin } from '../http/request-context.js';
import { defineRoute, type AnyRoute } from '../http/route.js';
import { requirePermission, requireRole } from '../staff/authenticate.js';
import { keyPolicyBody, keyPolicySchema, locationSchema } from './schemas.js';
import type { FacilityService } from './service.js';

/** Settings of the signed-in member's facility. */
export function createFacilityRoutes(deps: { service: FacilityService }): AnyRoute[] {
  const { service } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/locations',
      operationId: 'listLocations',
      summary: 'The facility\'s locations (any staff member)',
      description: 'What an API key can be limited to (`locationIds`), and where a lead can be placed.',
      tag: 'Settings',
      security: 'staff',
      responses: { 200: { description: 'The locations, by name', body: z.object({ items: z.array(locationSchema) }) } },
      async handle(ctx, { principal }) {
        ctx.body = { items: await service.locations(principal) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/settings/api-keys',
      operationId: 'getKeyPolicy',
      summary: 'The facility\'s API key policy: maximum lifetime and default rate limit',
      description: 'Needs the System Integrations permission.',
      tag: 'Settings',
      security: 'staff',
      guards: [requirePermission('systemIntegrations')],
      responses: { 200: { description: 'The policy', body: keyPolicySchema } },
      async handle(ctx, { principal }) {
        ctx.body = await service.keyPolicy(principal);
      },
    }),
    defineRoute({
      method: 'put',
      path: '/settings/api-keys',
      operationId: 'setKeyPolicy',
      summary: 'Change the facility\'s API key policy (Owner only)',
      description: 'A new maximum lifetime applies to keys created after it; existing keys are not cut short (`keysBeyondMaxLifetime` says how many outlive it).',
      tag: 'Settings',
      security: 'staff',
      guards: [requireRole('owner')],
      body: keyPolicyBody,
      responses: { 200: { description: 'The policy as saved', body: keyPolicySchema } },
      async handle(ctx, { principal, body }) {
        ctx.body = await service.setKeyPolicy({ staff: principal, origin: requestOrigin(ctx) }, body);
      },
    }),
  ];
}
