import { z } from 'zod';

import { expects } from '../http/validation.js';

const integer = (min: number, max: number) =>
  z.int(expects(`must be a whole number from ${min} to ${max}`)).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

export const rateLimitSchema = z
  .strictObject(
    {
      limit: integer(1, 100_000).meta({ description: 'Requests allowed per window.' }),
      windowSeconds: integer(1, 86_400).meta({ description: 'The window, in seconds.' }),
    },
    expects('must be an object with limit and windowSeconds'),
  )
  .meta({ id: 'RateLimit' });

export const keyPolicyBody = z
  .strictObject({
    maxLifetimeDays: integer(1, 3650)
      .nullable()
      .meta({ description: 'A new key expires at most this many days after it is created; null: keys may live for ever.' }),
    defaultRateLimit: rateLimitSchema.meta({ description: 'The rate limit of a key that has none of its own.' }),
  })
  .meta({ id: 'KeyPolicyInput' });

export const keyPolicySchema = z
  .object({
    maxLifetimeDays: z.int().nullable(),
    defaultRateLimit: rateLimitSchema,
    keysBeyondMaxLifetime: z.int().meta({
      description: 'Live keys that expire later than the maximum lifetime allows (or never): the maximum applies to keys created after it is set, so these are not cut short.',
    }),
  })
  .meta({ id: 'KeyPolicy' });

export const locationSchema = z.object({ id: z.uuid(), name: z.string() }).meta({ id: 'Location' });
