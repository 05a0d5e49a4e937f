import { z } from 'zod';

import { readableName } from '../http/look-alikes.js';
import { expects, queryInteger } from '../http/validation.js';
import { WEBHOOK_EVENT_TYPES } from './store.js';

const EVENT_CHOICES = [...WEBHOOK_EVENT_TYPES, '*'] as const;

const events = z
  .array(z.enum(EVENT_CHOICES, { error: `must be one of: ${EVENT_CHOICES.join(', ')}` }), expects('must be a list of event types'))
  .min(1, 'must list at least one event type, or "*" for every one')
  .max(EVENT_CHOICES.length, `must list at most ${EVENT_CHOICES.length} event types`)
  .transform((types) => [...new Set(types)])
  .meta({ description: `The events to deliver: any of ${WEBHOOK_EVENT_TYPES.join(', ')}, or ["*"] for every one.` });

const url = z
  .string(expects('must be a URL'))
  .trim()
  .min(1, 'must not be empty')
  .max(2000, 'must be at most 2000 characters')
  .meta({ description: 'Where events are posted: https (http and local addresses only outside production); never a private, loopback, link-local or metadata address.' });

/** What the endpoint is for, in words staff read in the list (look-alike letters refused, as for key names). */
const description = readableName({ max: 200 }).nullable();

export const createEndpointBody = z
  .strictObject({ url, events, description: description.optional() })
  .meta({ id: 'CreateWebhookEndpoint' });

export const updateEndpointBody = z
  .strictObject({
    url: url.optional(),
    events: events.optional(),
    description: description.optional(),
    enabled: z.boolean(expects('must be true or false')).optional().meta({ description: 'Turn the endpoint off (deliveries stop) or on again.' }),
  })
  .refine((body) => Object.keys(body).length > 0, { message: 'must change at least one of url, events, description, enabled' })
  .meta({ id: 'UpdateWebhookEndpoint' });

export const endpointSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()),
    enabled: z.boolean(),
    disabledReason: z.string().nullable().meta({ description: 'Why the server turned the endpoint off (every delivery failed for 5 days), or null.' }),
    createdAt: z.iso.datetime(),
    createdBy: z.object({ id: z.uuid(), name: z.string() }).nullable(),
    secretHint: z.string().nullable().meta({ description: 'The last four characters of the current secret.' }),
  })
  .meta({ id: 'WebhookEndpoint' });

export const endpointWithSecretSchema = endpointSchema
  .extend({ secret: z.string().meta({ description: 'The signing secret (whsec_...), shown this once.' }) })
  .meta({ id: 'WebhookEndpointWithSecret' });

export const deliverySchema = z
  .object({
    id: z.uuid(),
    eventId: z.string().meta({ description: 'The webhook-id header: the same on every attempt; receivers deduplicate by it.' }),
    eventType: z.string(),
    createdAt: z.iso.datetime().meta({ description: 'When the event was stored for this endpoint (the log is ordered by it).' }),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.int(),
    lastAttemptAt: z.iso.datetime().nullable(),
    nextAttemptAt: z.iso.datetime().nullable(),
    responseStatus: z.int().nullable(),
    durationMs: z.int().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export const deliveriesQuery = z
  .strictObject({
    limit: queryInteger(1, 100, 20).meta({ description: 'How many, 1 to 100 (default 20).' }),
    cursor: z.string().max(200, 'is not a cursor this list gave out').optional(),
    status: z.enum(['succeeded', 'failed', 'pending'], { error: 'must be succeeded, failed or pending' }).optional(),
  })
  .meta({ id: 'WebhookDeliveriesQuery' });

export const idParams = z.object({ id: z.uuid() });
