import { z } from 'zod';

import { expects, MULTI_LINE_TEXT, SINGLE_LINE_TEXT } from '../http/validation.js';

/** Trimmed text that must match `allowed` (which characters it may hold). */
const text = (allowed: RegExp, rule: string) => z.string(expects('must be a string')).trim().regex(allowed, rule);
const singleLine = () => text(SINGLE_LINE_TEXT, 'must not contain control characters');
const multiLine = () => text(MULTI_LINE_TEXT, 'must not contain control characters other than tabs and line breaks');

const requiredText = (max: number) => singleLine().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

/** An optional text field; blank counts as absent. */
const optionalText = (max: number, options: { multiLine?: boolean } = {}) =>
  (options.multiLine ? multiLine() : singleLine())
    .max(max, `must be at most ${max} characters`)
    .transform((value) => value || undefined)
    .optional();

export const createLeadBody = z
  .strictObject({
    firstName: requiredText(100),
    lastName: requiredText(100),
    email: z
      .string(expects('must be a string'))
      .trim()
      .max(254, 'must be at most 254 characters')
      .pipe(z.email('must be a valid email address')),
    phone: z
      .string(expects('must be a string'))
      .trim()
      .max(32, 'must be at most 32 characters')
      .regex(/^[0-9+()\-.\s]*$/, 'may hold only digits, spaces and + ( ) - .')
      .transform((value) => value || undefined)
      .optional(),
    locationId: z.uuid('must be the id of a location of this facility').optional(),
    source: optionalText(100).meta({ description: 'Where the lead came from, e.g. "Landing page".' }),
    notes: optionalText(2000, { multiLine: true }),
  })
  .meta({ id: 'CreateLead' });

export type CreateLeadInput = z.output<typeof createLeadBody>;

export const leadSchema = z
  .object({
    id: z.uuid(),
    facilityId: z.uuid(),
    locationId: z.uuid().nullable(),
    firstName: z.string(),
    lastName: z.string(),
    email: z.string(),
    phone: z.string().nullable(),
    source: z.string().nullable(),
    notes: z.string().nullable(),
    status: z.literal('lead'),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Lead' });

export const idempotencyKeyHeader = z
  .string()
  .min(1, 'must be 1 to 255 characters')
  .max(255, 'must be 1 to 255 characters')
  .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII');

/** Where a reader of leads is: past the lead it last read, in the order leads become visible (see `LeadCursor`). */
export const LEAD_CURSOR = /^[A-Za-z0-9_-]{1,200}$/;

export const listLeadsQuery = z
  .strictObject({
    limit: z.coerce
      .number(expects('must be a whole number from 1 to 200'))
      .int('must be a whole number from 1 to 200')
      .min(1, 'must be at least 1')
      .max(200, 'must be at most 200')
      .default(50)
      .meta({ description: 'How many leads, 1 to 200 (default 50).' }),
    cursor: z
      .string()
      .regex(LEAD_CURSOR, 'is not a cursor this list gave out')
      .optional()
      .meta({ description: 'The `nextCursor` of the previous page: the list goes on after it. Omitted: from the first lead.' }),
    createdSince: z.iso
      .datetime({ offset: true, error: 'must be an RFC 3339 date and time, e.g. 2026-12-01T00:00:00Z' })
      .optional()
      .meta({ description: 'Only leads created at or after this time.' }),
    locationId: z.uuid('must be the id of a location of this facility').optional().meta({ description: 'Only leads of this location.' }),
    source: z.string().max(100, 'must be at most 100 characters').optional().meta({ description: 'Only leads with this source.' }),
  })
  .meta({ id: 'ListLeadsQuery' });

export type ListLeadsQuery = z.output<typeof listLeadsQuery>;

export const leadPageSchema = z
  .object({
    items: z.array(leadSchema),
    nextCursor: z.string().meta({
      description: 'Where to poll next: after the last lead of this page, or the cursor given when the page is empty. Always present; store it and send it back.',
    }),
  })
  .meta({ id: 'LeadPage' });
