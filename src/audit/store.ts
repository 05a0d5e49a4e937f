import { randomUUID } from 'node:crypto';

import type { Knex } from 'knex';

import { deleteInBatches } from '../db/housekeeping.js';
import { queryable } from '../db/transaction.js';
import type { Actor, AuditAction, AuditEvent, NewAuditEvent, Target } from './model.js';

interface EventRow {
  id: string;
  facility_id: string | null;
  occurred_at: Date;
  action: AuditAction;
  actor_type: Actor['type'];
  actor_id: string | null;
  actor_name: string | null;
  target_type: Target['type'] | null;
  target_id: string | null;
  target_name: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
}

function toEvent(row: EventRow): AuditEvent {
  return {
    id: row.id,
    facilityId: row.facility_id,
    occurredAt: row.occurred_at,
    action: row.action,
    actor: (row.actor_type === 'staff'
      ? { type: 'staff', id: row.actor_id, name: row.actor_name }
      : { type: row.actor_type, ...(row.actor_name ? { name: row.actor_name } : {}) }) as Actor,
    target: row.target_type && row.target_id ? { type: row.target_type, id: row.target_id, name: row.target_name ?? '' } : null,
    origin: { ip: row.ip, userAgent: row.user_agent, requestId: row.request_id },
    details: row.details,
  };
}

/** Filters of the audit list; all optional. */
export interface AuditQuery {
  facilityId: string;
  limit: number;
  /** The last event of the previous page: the list goes on strictly after it (newest first). */
  after?: { occurredAt: Date; id: string };
  action?: AuditAction;
  keyId?: string;
  actorId?: string;
  since?: Date;
  until?: Date;
}

/** How long a user agent is kept (they can be long and are not worth more). */
const USER_AGENT_LIMIT = 512;

export function createAuditStore(db: Knex) {
  return {
    /** Appends an event, in the caller's transaction (so a change and its event commit together). */
    async append(event: NewAuditEvent): Promise<void> {
      await queryable(db)('audit_events').insert({
        id: randomUUID(),
        facility_id: event.facilityId,
        action: event.action,
        actor_type: event.actor.type,
        actor_id: event.actor.type === 'staff' ? event.actor.id : null,
        actor_name: event.actor.name ?? null,
        target_type: event.target?.type ?? null,
        target_id: event.target?.id ?? null,
        target_name: event.target?.name ?? null,
        ip: event.origin.ip,
        user_agent: event.origin.userAgent?.slice(0, USER_AGENT_LIMIT) ?? null,
        request_id: event.origin.requestId,
        details: JSON.stringify(event.details ?? {}),
      });
    },

    /** A page of a facility's events, newest first (keyset pagination: stable while events are added). */
    async list(query: AuditQuery): Promise<AuditEvent[]> {
      const rows = queryable(db)('audit_events')
        .select('*')
        .where({ facility_id: query.facilityId })
        .orderBy([{ column: 'occurred_at', order: 'desc' }, { column: 'id', order: 'desc' }])
        .limit(query.limit);
      if (query.after) rows.whereRaw('(occurred_at, id) < (?::timestamptz, ?::uuid)', [query.after.occurredAt.toISOString(), query.after.id]);
      if (query.action) rows.where({ action: query.action });
      if (query.keyId) rows.where({ target_type: 'api_key', target_id: query.keyId });
      if (query.actorId) rows.where({ actor_id: query.actorId });
      if (query.since) rows.where('occurred_at', '>=', query.since);
      if (query.until) rows.where('occurred_at', '<', query.until);
      return ((await rows) as EventRow[]).map(toEvent);
    },

    /**
     * Deletes events older than `days` (never younger than 30 days, whatever
     * `days` says), in bounded batches, through the database's
     * `purge_audit_events`: the only delete the database allows (see the
     * audit_history migration). Returns how many.
     */
    async purgeOlderThan(days: number, batchSize = 1000): Promise<number> {
      return deleteInBatches(batchSize, async () => {
        const { rows } = (await db.raw('select purge_audit_events(?::int, ?::int) as removed', [days, batchSize])) as { rows: { removed: number }[] };
        return rows[0]?.removed ?? 0;
      });
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;
