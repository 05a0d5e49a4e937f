import { defineRoute, type AnyRoute } from '../http/route.js';
import type { StaffState } from './authenticate.js';
import { meSchema } from './schemas.js';

/** The staff module's admin API routes. */
export function createStaffRoutes(): AnyRoute[] {
  const me = defineRoute({
    method: 'get',
    path: '/me',
    operationId: 'getMe',
    summary: 'The signed-in staff member',
    description: 'Role and permissions are read from the database on every request.',
    tag: 'Staff',
    security: 'staff',
    responses: { 200: { description: 'The signed-in staff member', body: meSchema } },
    async handle(ctx) {
      const { staff } = ctx.state as StaffState;
      ctx.body = meSchema.parse(staff);
    },
  });
  return [me];
}
