import { afterCommit } from '../db/transaction.js';
import { decodeKeysetCursor, keysetPage } from '../http/keyset-cursor.js';
import type { Actor, AuditAction, AuditEvent, NewAuditEvent } from './model.js';
import type { AuditStore } from './store.js';

/** The actor a staff member is in an event (the name is kept as it was then). */
export function staffActor(staff: { id: string; name: string }): Actor {
  return { type: 'staff', id: staff.id, name: staff.name };
}

/** An opaque cursor: the last event of a page. */
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
      const after = cursor === undefined ? undefined : decodeKeysetCursor(cursor);
      const rows = await store.list({ ...filters, facilityId: staff.facilityId, limit: query.limit + 1, ...(after ? { after: { occurredAt: after.at, id: after.id } } : {}) });
      return keysetPage(rows, query.limit, (event) => ({ at: event.occurredAt, id: event.id }));
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
