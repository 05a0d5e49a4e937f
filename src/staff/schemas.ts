import { z } from 'zod';

import { ROLES } from './model.js';

export const permissionsSchema = z.object({
  systemIntegrations: z.boolean().meta({ description: 'System Integrations: manage API keys (always on for an Owner).' }),
});

export const staffSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    email: z.email(),
    role: z.enum(ROLES),
    permissions: permissionsSchema,
  })
  .meta({ id: 'Staff' });

export const meSchema = staffSchema.extend({ facilityId: z.uuid(), facilityName: z.string() }).meta({ id: 'Me' });
