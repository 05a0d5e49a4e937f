import { z } from 'zod';

import { expects, SINGLE_LINE_TEXT } from '../http/validation.js';
import { SCOPE_NAMES } from './scopes.js';

export const scopeSchema = z
  .object({ name: z.enum(SCOPE_NAMES), description: z.string() })
  .meta({ id: 'Scope' });

export const createApiKeyBody = z
  .strictObject({
    name: z
      .string(expects('must be a string'))
      .trim()
      .min(1, 'must not be empty')
      .max(100, 'must be at most 100 characters')
      .regex(SINGLE_LINE_TEXT, 'must not contain control characters')
      .meta({ description: 'Which system uses the key, e.g. "Landing Page Connector". Unique among the facility\'s live keys (case-insensitive).' }),
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
  })
  .meta({ id: 'CreateApiKey' });

export const apiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    scopes: z.array(z.string()),
    createdAt: z.iso.datetime(),
    createdBy: z.object({ id: z.uuid(), name: z.string() }),
    status: z.enum(['active', 'expired', 'revoked', 'invalid']).meta({
      description: '`active`: accepted. `expired`, `revoked`: refused everywhere, listed until deleted. `invalid`: its stored token no longer matches (refused everywhere).',
    }),
  })
  .meta({ id: 'ApiKey' });

export const createdApiKeySchema = apiKeySchema
  .extend({
    key: z.string().meta({ description: 'The API key. Shown this once; store it securely. Only its SHA-256 hash is kept.' }),
  })
  .meta({ id: 'CreatedApiKey' });

export const apiKeyIdParams = z.object({ id: z.uuid() });
