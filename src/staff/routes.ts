import { z } from 'zod';

import { requestOrigin } from '../http/request-context.js';
import { defineRoute, type AnyRoute } from '../http/route.js';
import { expects } from '../http/validation.js';
import { requireRole } from './authenticate.js';
import type { StaffMember } from './model.js';
import { meSchema, staffSchema } from './schemas.js';
import type { StaffService } from './service.js';

function present(staff: StaffMember) {
  return { id: staff.id, name: staff.name, email: staff.email, role: staff.role, permissions: staff.permissions };
}

const accessBody = z
  .strictObject({
    systemIntegrations: z.boolean(expects('must be true or false')),
  })
  .meta({ id: 'StaffAccess' });

/** The staff module's admin API routes: who am I, the staff list, the Access tab. */
export function createStaffRoutes(deps: { service: StaffService }): AnyRoute[] {
  const { service } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/me',
      operationId: 'getMe',
      summary: 'The signed-in staff member',
      description: 'Role and permissions are read from the database on every request.',
      tag: 'Staff',
      security: 'staff',
      responses: { 200: { description: 'The signed-in staff member', body: meSchema } },
      async handle(ctx, { principal: staff }) {
        ctx.body = { ...present(staff), facilityId: staff.facilityId, facilityName: await service.facilityName(staff) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/staff',
      operationId: 'listStaff',
      summary: 'Staff of the signed-in member\'s facility',
      description: 'Trainers get 403.',
      tag: 'Staff',
      security: 'staff',
      guards: [requireRole('owner', 'admin', 'location_admin')],
      responses: { 200: { description: 'Staff, by name', body: z.object({ items: z.array(staffSchema) }) } },
      async handle(ctx, { principal }) {
        const staff = await service.list(principal);
        ctx.body = { items: staff.map(present) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/staff/:staffId/access',
      operationId: 'setStaffAccess',
      summary: 'Turn System Integrations on or off for a staff member (Owner only)',
      description:
        'An Owner\'s permission cannot be turned off (409). Granting it to a Trainer succeeds and the response adds `warnings`.',
      tag: 'Staff',
      security: 'staff',
      guards: [requireRole('owner')],
      params: z.object({ staffId: z.uuid() }),
      body: accessBody,
      responses: {
        200: { description: 'The staff member, with `warnings` when there is something to know', body: staffSchema.extend({ warnings: z.array(z.string()).optional() }) },
        409: { description: 'An Owner\'s permission cannot be turned off' },
      },
      async handle(ctx, { principal, params, body }) {
        const { staff, warnings } = await service.setSystemIntegrations({ staff: principal, origin: requestOrigin(ctx) }, params.staffId, body.systemIntegrations);
        ctx.body = { ...present(staff), ...(warnings.length ? { warnings } : {}) };
      },
    }),
  ];
}
