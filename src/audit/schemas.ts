import { z } from 'zod';

import { instant, queryInteger } from '../http/validation.js';
import { AUDIT_ACTIONS } from './model.js';

const RFC_3339 = 'must be an RFC 3339 date and time from year 0001 to 9999, e.g. 2026-06-30T00:00:00Z';

export const auditQuery = z.strictObject({
  limit: queryInteger(1, 200, 50),
  cursor: z.string().max(200, 'is not a cursor this list gave out').optional(),
  action: z.enum(AUDIT_ACTIONS, { error: `must be one of: ${AUDIT_ACTIONS.join(', ')}` }).optional(),
  keyId: z.uuid('must be an API key id').optional(),
  actorId: z.uuid('must be a staff member id').optional(),
  since: instant(RFC_3339).optional(),
  until: instant(RFC_3339).optional(),
});

export const auditEventSchema = z
  .object({
    id: z.uuid(),
    occurredAt: z.iso.datetime(),
    action: z.enum(AUDIT_ACTIONS),
    actor: z.object({ type: z.enum(['staff', 'system', 'secret-scanning', 'operator']), id: z.uuid().nullable(), name: z.string().nullable() }),
    target: z.object({ type: z.enum(['api_key', 'staff', 'facility', 'webhook_endpoint']), id: z.uuid(), name: z.string() }).nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    requestId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'AuditEvent' });

export const auditPageSchema = z.object({ items: z.array(auditEventSchema), nextCursor: z.string().nullable() }).meta({ id: 'AuditPage' });
