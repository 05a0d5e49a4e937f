import { z } from 'zod';

import { validationFailed, type FieldError } from './errors.js';

/** Turns zod issues into field errors that name the field and the rule. */
export function toFieldErrors(issues: z.core.$ZodIssue[], prefix: string[] = []): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push({ path: [...path, key].join('.'), message: 'is not a known field' });
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) message = 'is required';
    errors.push({ path: path.join('.'), message });
  }
  return errors;
}

/** Single-line text: no control characters at all (and Postgres refuses NUL outright). */
export const SINGLE_LINE_TEXT = /^[^\p{Cc}]*$/u;

/** Multi-line text: no control characters but tab and line breaks. */
export const MULTI_LINE_TEXT = /^(?:[^\p{Cc}]|[\t\n\r])*$/u;

/** Parses `input` with `schema`, or throws a 400 naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix: string[] = []): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationFailed(toFieldErrors(result.error.issues, prefix));
  return result.data;
}

/**
 * A zod error option that says "is required" for a missing value and `rule`
 * for a present one of the wrong type, e.g. `z.string(expects('must be a string'))`.
 */
export function expects(rule: string) {
  return { error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : rule) };
}

/**
 * The instants a filter or a cursor may name: years 0001 to 9999, what an
 * RFC 3339 date and time can write and Postgres stores. (JavaScript's Date
 * goes on to the year 275760, and turns year 0000 into 1 BC.)
 */
const EARLIEST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const LATEST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/** An RFC 3339 date and time (Z or an offset) from year 0001 to 9999, as a Date; anything else fails with `rule`. */
export function instant(rule: string) {
  return z.iso
    .datetime({ offset: true, error: rule })
    .transform((text) => new Date(text))
    .refine((date) => date.getTime() >= EARLIEST_INSTANT && date.getTime() <= LATEST_INSTANT, rule);
}

/**
 * A whole number from `min` to `max` in a query string, `fallback` when it
 * is absent: decimal digits only (Number() alone also takes "0x10", "1e2",
 * " 5" and "").
 */
export function queryInteger(min: number, max: number, fallback: number) {
  return z.preprocess(
    (value) => (typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value),
    // The default inside, so the OpenAPI document shows it.
    z.int(expects('must be a whole number')).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).default(fallback),
  );
}
