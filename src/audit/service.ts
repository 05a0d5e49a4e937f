import { z } from 'zod';

import { afterCommit } from '../db/transaction.js';
import { validationFailed } from '../http/errors.js';
import { instant } from '../http/validation.js';
import type { Actor, AuditAction, AuditEvent, NewAuditEvent } from './model.js';
import type { AuditStore } from './store.js';

/** The actor a staff member is in an event (the name is kept as it was then). */
export function staffActor(staff: { id: string; name: string }): Actor {
  return { type: 'staff', id: staff.id, name: staff.name };
}

/** An opaque cursor: the last event of a page. */
function encodeCursor(event: AuditEvent): string {
  return Buffer.from(`${event.occurredAt.toISOString()}|${event.id}`, 'utf8').toString('base64url');
}

const NOT_A_CURSOR = 'is not a cursor this list gave out';

/** What a cursor holds: exactly the time and the id `encodeCursor` wrote, checked as strictly as a filter (a tampered one is a 400, never a query). */
const cursorContent = z.tuple([instant(NOT_A_CURSOR), z.uuid(NOT_A_CURSOR)]);

function decodeCursor(cursor: string): { occurredAt: Date; id: string } {
  const parsed = cursorContent.safeParse(Buffer.from(cursor, 'base64url').toString('utf8').split('|'));
  if (!parsed.success) throw validationFailed([{ path: 'cursor', message: NOT_A_CURSOR }]);
  const [occurredAt, id] = parsed.data;
  return { occurredAt, id };
}

export interface AuditListQuery {
  limit: number;
  cursor?: string;
  action?: AuditAction;
  keyId?: string;
  actorId?: string;
  since?: Date;
  until?: Date;
}

/**
 * The audit log: services record events through it in the same transaction
 * as the change they describe; staff read their facility's events.
 */
export function createAuditLog(deps: { store: AuditStore }) {
  const { store } = deps;
  const listeners: ((event: NewAuditEvent) => void)[] = [];
  const besides: ((event: NewAuditEvent) => Promise<void>)[] = [];
  return {
    /**
     * Records an event. Call it inside the change's transaction
     * (`inTransaction`); listeners hear of it once that commits.
     */
    async record(event: NewAuditEvent): Promise<void> {
      await store.append(event);
      for (const beside of besides) await beside(event);
      if (listeners.length) afterCommit(() => listeners.forEach((listener) => listener(event)));
    },

    /**
     * Hears of every event as it is recorded, in the change's transaction:
     * what it writes commits or rolls back with the change (webhooks hang
     * off this).
     */
    beside(listener: (event: NewAuditEvent) => Promise<void>): void {
      besides.push(listener);
    },

    /** Hears of every event once its change is committed (metrics hang off this). */
    onRecorded(listener: (event: NewAuditEvent) => void): void {
      listeners.push(listener);
    },

    /** A page of the staff member's facility's events, newest first, and the cursor of the next page (null at the end). */
    async list(staff: { facilityId: string }, query: AuditListQuery): Promise<{ items: AuditEvent[]; nextCursor: string | null }> {
      const { cursor, ...filters } = query;
      const items = await store.list({ ...filters, facilityId: staff.facilityId, limit: query.limit + 1, ...(cursor !== undefined ? { after: decodeCursor(cursor) } : {}) });
      const more = items.length > query.limit;
      const page = more ? items.slice(0, query.limit) : items;
      return { items: page, nextCursor: more ? encodeCursor(page[page.length - 1]!) : null };
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
