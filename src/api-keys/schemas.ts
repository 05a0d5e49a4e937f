import { z } from 'zod';

import { rateLimitSchema } from '../facilities/schemas.js';
import { readableName } from '../http/look-alikes.js';
import { expects, queryInteger } from '../http/validation.js';
import { SCOPE_NAMES } from './scopes.js';
import { REFUSED_OUTCOMES } from './usage-counts.js';

export const scopeSchema = z
  .object({ name: z.enum(SCOPE_NAMES), description: z.string() })
  .meta({ id: 'Scope' });

/** A key name as people read it: see readableName (two names that look the same are one name). */
export const keyName = readableName({ max: 100 });

export const createApiKeyBody = z
  .strictObject({
    name: keyName.meta({
      description:
        'Which system uses the key, e.g. "Landing Page Connector". NFKC-normalised with spaces collapsed; one script (Latin may go with one other, not Cyrillic or Greek); unique among the facility\'s live keys, compared by look (case and look-alike letters aside, by Unicode\'s confusable skeleton).',
    }),
    scopes: z
      .array(z.string(expects('must be a list of scope names')), expects('must be a list of scope names'))
      .min(1, 'must list at least one scope')
      .max(20, 'must list at most 20 scopes')
      .superRefine((scopes, ctx) => {
        scopes.forEach((scope, index) => {
          if (!(SCOPE_NAMES as string[]).includes(scope)) {
            ctx.addIssue({ code: 'custom', path: [index], message: `"${scope.slice(0, 100)}" is not a known scope (known: ${SCOPE_NAMES.join(', ')})` });
          }
        });
      })
      .transform((scopes) => [...new Set(scopes)])
      .meta({ description: 'One or more scopes from GET /api/v1/scopes.', items: { enum: SCOPE_NAMES } }),
    expiresAt: z
      .iso.datetime({ offset: true, error: 'must be an RFC 3339 date and time, e.g. 2027-06-30T00:00:00Z, or null' })
      .nullable()
      .optional()
      .meta({
        description:
          'When the key stops working: a future time within the facility\'s maximum lifetime, or null for never (only when the facility sets no maximum). Omitted: the facility\'s default (its maximum lifetime, or never).',
      }),
    rateLimit: rateLimitSchema.nullable().optional().meta({ description: 'This key\'s own rate limit; null or omitted: the facility\'s default.' }),
    locationIds: z
      .array(z.uuid('must be the id of a location of this facility'), expects('must be a list of location ids, or null for every location'))
      .min(1, 'must list at least one location, or be null for every location')
      .max(100, 'must list at most 100 locations')
      .transform((ids) => [...new Set(ids)])
      .nullable()
      .optional()
      .meta({ description: 'The locations the key is good for (GET /api/v1/locations); null or omitted: every location of the facility.' }),
  })
  .meta({ id: 'CreateApiKey' });

export const apiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    scopes: z.array(z.string()),
    locationIds: z.array(z.uuid()).nullable().meta({ description: 'The locations the key is limited to; null: every location of the facility.' }),
    createdAt: z.iso.datetime(),
    createdBy: z.object({ id: z.uuid(), name: z.string() }),
    status: z.enum(['active', 'rotating', 'expired', 'revoked', 'invalid']).meta({
      description:
        '`active`: accepted. `rotating`: accepted, and a previous secret still works (see `rotation`). `expired`, `revoked`: refused everywhere, listed until deleted. `invalid`: its stored token no longer matches (refused everywhere).',
    }),
    expiresAt: z.iso.datetime().nullable(),
    rateLimit: rateLimitSchema.meta({ description: 'The effective rate limit: the key\'s own, or the facility\'s default.' }),
    hint: z.string().nullable().meta({ description: 'The prefix and the last four characters of the current secret, e.g. "oct_pat_…x9Zq".' }),
    lastUsedAt: z.iso.datetime().nullable().meta({ description: 'Updated at most once a minute.' }),
    lastUsedIp: z.string().nullable(),
    leadsCreated: z.int(),
    rotation: z
      .object({ previousExpiresAt: z.iso.datetime(), previousLastUsedAt: z.iso.datetime().nullable() })
      .nullable()
      .meta({ description: 'During a rotation: when the previous secret stops working, and when it was last used.' }),
    revocation: z
      .object({
        revokedAt: z.iso.datetime(),
        reason: z.string(),
        by: z.enum(['staff', 'system', 'secret-scanning', 'operator']),
        url: z.string().nullable(),
        source: z.string().nullable(),
      })
      .nullable()
      .meta({ description: 'A revoked key: when and why; `reason` "leaked" with `url` and `source` when a secret-scanning report found it in public.' }),
  })
  .meta({ id: 'ApiKey' });

export const createdApiKeySchema = apiKeySchema
  .extend({
    key: z.string().meta({ description: 'The API key. Shown this once; store it securely. Only its SHA-256 hash is kept.' }),
  })
  .meta({ id: 'CreatedApiKey' });

export const apiKeyIdParams = z.object({ id: z.uuid() });

export const usageQuery = z.strictObject({
  days: queryInteger(1, 90, 30).meta({ description: 'How many UTC days, today included: 1 to 90 (default 30).' }),
});

export const usageSchema = z
  .object({
    days: z.array(
      z.object({
        date: z.iso.date().meta({ description: 'The UTC day.' }),
        leadsCreated: z.int().nonnegative().meta({ description: 'Leads the key created that day.' }),
        requests: z.int().nonnegative().meta({ description: 'Requests that presented one of the key\'s secrets (current or previous), accepted or refused.' }),
        refused: z.partialRecord(z.enum(REFUSED_OUTCOMES), z.int().positive()).meta({
          description:
            'Of those, the refused ones by reason: the key check\'s (`expired`, `rotated_out`, `revoked`, `deleted`, `insufficient_scope`, `location_not_allowed`, ...) or `rate_limited`. Reasons with none are left out.',
        }),
      }),
    ),
  })
  .meta({ id: 'ApiKeyUsage' });

/** The grace period of a rotation when none is given: a day. */
export const DEFAULT_GRACE_SECONDS = 86_400;

export const rotateBody = z
  .strictObject({
    graceSeconds: z
      .int(expects('must be a whole number of seconds'))
      .min(0, 'must be at least 0')
      .max(604_800, 'must be at most 604800 (7 days)')
      .default(DEFAULT_GRACE_SECONDS)
      .meta({ description: 'How long the previous secret keeps working: 0 to 604800 seconds (default a day).' }),
  })
  .meta({ id: 'RotateApiKey' });
