import { z } from 'zod';

import { validationFailed } from './errors.js';
import { instant } from './validation.js';

/**
 * The cursor of a list ordered by (time, id), newest first or oldest first:
 * opaque to the client (base64url of the last row's time and id), checked as
 * strictly as a filter when it comes back (a tampered one is a 400 naming
 * `cursor`, never a query).
 */
export interface KeysetPosition {
  at: Date;
  id: string;
}

const NOT_A_CURSOR = 'is not a cursor this list gave out';
const content = z.tuple([instant(NOT_A_CURSOR), z.uuid(NOT_A_CURSOR)]);

export function encodeKeysetCursor(position: KeysetPosition): string {
  return Buffer.from(`${position.at.toISOString()}|${position.id}`, 'utf8').toString('base64url');
}

export function decodeKeysetCursor(cursor: string): KeysetPosition {
  const parsed = content.safeParse(Buffer.from(cursor, 'base64url').toString('utf8').split('|'));
  if (!parsed.success) throw validationFailed([{ path: 'cursor', message: NOT_A_CURSOR }]);
  const [at, id] = parsed.data;
  return { at, id };
}

/** A page of `limit` from `limit + 1` rows read, and the cursor of the next page (null on the last). */
export function keysetPage<T>(rows: T[], limit: number, positionOf: (row: T) => KeysetPosition): { items: T[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, nextCursor: more ? encodeKeysetCursor(positionOf(items[items.length - 1]!)) : null };
}
