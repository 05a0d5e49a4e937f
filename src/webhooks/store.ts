import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';
import type { Sealed } from '../shared/sealed.js';

/** The events an endpoint can ask for (`*`: every one). */
export const WEBHOOK_EVENT_TYPES = ['lead.created', 'api_key.expiring', 'api_key.revoked', 'webhook.test'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhookEndpoint {
  id: string;
  facilityId: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: Date;
  createdBy: { id: string; name: string } | null;
  /** The last four characters of the current secret. */
  secretHint: string | null;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface Delivery {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  responseStatus: number | null;
  durationMs: number | null;
  error: string | null;
  createdAt: Date;
}

interface EndpointRow {
  id: string;
  facility_id: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  created_at: Date;
  created_by: string | null;
  created_by_name: string | null;
  secret_hint: string | null;
}

const toEndpoint = (row: EndpointRow): WebhookEndpoint => ({
  id: row.id,
  facilityId: row.facility_id,
  url: row.url,
  description: row.description,
  events: row.events,
  enabled: row.enabled,
  disabledReason: row.disabled_reason,
  createdAt: row.created_at,
  createdBy: row.created_by ? { id: row.created_by, name: row.created_by_name ?? '' } : null,
  secretHint: row.secret_hint,
});

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  last_attempt_at: Date | null;
  next_attempt_at: Date;
  response_status: number | null;
  duration_ms: number | null;
  error: string | null;
  created_at: Date;
}

const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  endpointId: row.endpoint_id,
  eventId: row.event_id,
  eventType: row.event_type,
  status: row.status,
  attempts: row.attempts,
  lastAttemptAt: row.last_attempt_at,
  nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
  responseStatus: row.response_status,
  durationMs: row.duration_ms,
  error: row.error,
  createdAt: row.created_at,
});

export interface NewEndpoint {
  id: string;
  facilityId: string;
  url: string;
  description: string | null;
  events: string[];
  createdBy: string;
}

/** A secret as stored: sealed, with its hint. */
export interface StoredSecret {
  id: string;
  sealed: Sealed;
  hint: string;
}

/** A delivery to attempt, with what the attempt needs. */
export interface Claimed {
  delivery: { id: string; attempt: number };
  endpoint: { id: string; facilityId: string; url: string; name: string };
  event: { id: string; type: string; data: Record<string, unknown>; createdAt: Date };
  secrets: Sealed[];
}

/** What an attempt came to. */
export interface AttemptOutcome {
  ok: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
  /** For a failed attempt: when to try again, or null when the schedule is spent (the delivery has failed). */
  retryAt: Date | null;
}

/** The webhook tables: endpoints, their sealed secrets, events and deliveries. */
export function createWebhookStore(db: Knex) {
  const endpoints = () =>
    queryable(db)('webhook_endpoints as e')
      .leftJoin('staff as st', 'st.id', 'e.created_by')
      .leftJoin('webhook_secrets as ws', function currentSecret() {
        this.on('ws.endpoint_id', '=', 'e.id').andOnNull('ws.ends_at');
      })
      .select('e.id', 'e.facility_id', 'e.url', 'e.description', 'e.events', 'e.enabled', 'e.disabled_reason', 'e.created_at', 'e.created_by', 'st.name as created_by_name', 'ws.hint as secret_hint');

  return {
    async insertEndpoint(endpoint: NewEndpoint, secret: StoredSecret): Promise<void> {
      await queryable(db)('webhook_endpoints').insert({
        id: endpoint.id,
        facility_id: endpoint.facilityId,
        url: endpoint.url,
        description: endpoint.description,
        events: endpoint.events,
        created_by: endpoint.createdBy,
      });
      await queryable(db)('webhook_secrets').insert({ id: secret.id, endpoint_id: endpoint.id, sealed: JSON.stringify(secret.sealed), hint: secret.hint });
    },

    async list(facilityId: string): Promise<WebhookEndpoint[]> {
      const rows = (await endpoints().where('e.facility_id', facilityId).orderBy([{ column: 'e.created_at', order: 'desc' }, { column: 'e.id', order: 'desc' }])) as EndpointRow[];
      return rows.map(toEndpoint);
    },

    async find(facilityId: string, id: string): Promise<WebhookEndpoint | undefined> {
      const row = (await endpoints().where({ 'e.facility_id': facilityId, 'e.id': id }).first()) as EndpointRow | undefined;
      return row && toEndpoint(row);
    },

    /** Locks an endpoint of the facility for a change (in the caller's transaction); false when there is none. */
    async lock(facilityId: string, id: string): Promise<boolean> {
      return (await queryable(db)('webhook_endpoints').select('id').where({ id, facility_id: facilityId }).forUpdate().first()) !== undefined;
    },

    async update(facilityId: string, id: string, changes: { url?: string; description?: string | null; events?: string[]; enabled?: boolean }): Promise<void> {
      const row: Record<string, unknown> = {};
      if (changes.url !== undefined) row.url = changes.url;
      if (changes.description !== undefined) row.description = changes.description;
      if (changes.events !== undefined) row.events = changes.events;
      if (changes.enabled !== undefined) {
        row.enabled = changes.enabled;
        // Turned on again: its failures start over, and the reason it was off goes.
        if (changes.enabled) Object.assign(row, { disabled_reason: null, failing_since: null });
      }
      if (Object.keys(row).length > 0) await queryable(db)('webhook_endpoints').where({ id, facility_id: facilityId }).update(row);
    },

    async delete(facilityId: string, id: string): Promise<boolean> {
      return (await queryable(db)('webhook_endpoints').where({ id, facility_id: facilityId }).delete()) > 0;
    },

    /**
     * Makes `secret` the endpoint's current one; the one it replaces keeps
     * signing until `graceSeconds` from now, and an older one still in its
     * grace stops at once (at most two sign).
     */
    async replaceSecret(endpointId: string, secret: StoredSecret, graceSeconds: number): Promise<void> {
      await queryable(db)('webhook_secrets').where({ endpoint_id: endpointId }).where('ends_at', '>', db.raw('now()')).update({ ends_at: db.raw('now()') });
      await queryable(db)('webhook_secrets')
        .where({ endpoint_id: endpointId })
        .whereNull('ends_at')
        .update({ ends_at: db.raw(`now() + (? * interval '1 second')`, [graceSeconds]) });
      await queryable(db)('webhook_secrets').insert({ id: secret.id, endpoint_id: endpointId, sealed: JSON.stringify(secret.sealed), hint: secret.hint });
    },

    /**
     * Stores an event (in the caller's transaction, beside its cause) and a
     * delivery to each enabled endpoint of the facility that wants it (or to
     * `only` that endpoint). Returns how many deliveries it made.
     */
    async emit(event: { id: string; facilityId: string; type: WebhookEventType; data: Record<string, unknown> }, only?: string): Promise<number> {
      const { rows } = (await queryable(db).raw(
        `with wanted as (
           select id from webhook_endpoints_wanting(?::uuid, ?::text) as w(id) where ?::uuid is null
           union
           select id from webhook_endpoints where id = ?::uuid and facility_id = ?::uuid),
         event as (
           insert into webhook_events (id, facility_id, type, data)
           select ?, ?::uuid, ?, ?::jsonb where exists (select 1 from wanted)
           returning id)
         insert into webhook_deliveries (id, event_id, endpoint_id)
         select gen_random_uuid(), event.id, wanted.id from event cross join wanted
         returning id`,
        [event.facilityId, event.type, only ?? null, only ?? null, event.facilityId, event.id, event.facilityId, event.type, JSON.stringify(event.data)],
      )) as { rows: unknown[] };
      return rows.length;
    },

    /** A page of an endpoint's deliveries, newest first, after `after` (the last of the previous page). */
    async deliveries(query: { endpointId: string; limit: number; status?: DeliveryStatus; after?: { createdAt: Date; id: string } }): Promise<Delivery[]> {
      const rows = queryable(db)('webhook_deliveries as d')
        .join('webhook_events as ev', 'ev.id', 'd.event_id')
        .select('d.id', 'd.endpoint_id', 'd.event_id', 'ev.type as event_type', 'd.status', 'd.attempts', 'd.last_attempt_at', 'd.next_attempt_at', 'd.response_status', 'd.duration_ms', 'd.error', 'd.created_at')
        .where('d.endpoint_id', query.endpointId)
        .orderBy([{ column: 'd.created_at', order: 'desc' }, { column: 'd.id', order: 'desc' }])
        .limit(query.limit);
      if (query.status) rows.where('d.status', query.status);
      if (query.after) rows.whereRaw('(d.created_at, d.id) < (?::timestamptz, ?::uuid)', [query.after.createdAt.toISOString(), query.after.id]);
      return ((await rows) as DeliveryRow[]).map(toDelivery);
    },

    /**
     * Puts a delivery of the facility back in line to be attempted now,
     * unless its endpoint is turned off: 'missing' when the facility has no
     * such delivery.
     */
    async retry(facilityId: string, deliveryId: string): Promise<'queued' | 'turned-off' | 'missing'> {
      const { rows } = (await queryable(db).raw(
        `with target as (
           select d.id, e.enabled from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
           where d.id = ?::uuid and e.facility_id = ?::uuid),
         queued as (
           update webhook_deliveries d set status = 'pending', next_attempt_at = now(), error = null
           from target where d.id = target.id and target.enabled
           returning d.id)
         select target.enabled from target`,
        [deliveryId, facilityId],
      )) as { rows: { enabled: boolean }[] };
      const found = rows[0];
      return !found ? 'missing' : found.enabled ? 'queued' : 'turned-off';
    },

    /** Deliveries whose next attempt has no job yet, oldest first. */
    async dueToEnqueue(limit: number): Promise<{ id: string; attempt: number; notBefore: Date }[]> {
      const rows = (await queryable(db)('webhook_deliveries')
        .select('id', db.raw('attempts + 1 as attempt'), 'next_attempt_at')
        .where({ status: 'pending' })
        .whereRaw('enqueued_attempt <= attempts')
        .orderBy('created_at')
        .limit(limit)) as { id: string; attempt: number; next_attempt_at: Date }[];
      return rows.map((row) => ({ id: row.id, attempt: row.attempt, notBefore: row.next_attempt_at }));
    },

    /** Notes that these attempts have their jobs. */
    async markEnqueued(enqueued: { id: string; attempt: number }[]): Promise<void> {
      if (enqueued.length === 0) return;
      await queryable(db).raw(
        `update webhook_deliveries d set enqueued_attempt = v.attempt
         from unnest(?::uuid[], ?::int[]) as v(id, attempt)
         where d.id = v.id and d.enqueued_attempt < v.attempt`,
        [enqueued.map((entry) => entry.id), enqueued.map((entry) => entry.attempt)],
      );
    },

    /**
     * Claims attempt `attempt` of a delivery: only while it is pending at
     * that attempt, and not being attempted by anyone else (a claim older
     * than `staleSeconds` was left by a process that died). Undefined when
     * there is nothing to attempt. An endpoint turned off meanwhile fails
     * the delivery instead.
     */
    async claim(deliveryId: string, attempt: number, staleSeconds: number): Promise<Claimed | 'busy' | undefined> {
      const { rows } = (await queryable(db).raw(
        `update webhook_deliveries d set attempting_since = now()
         from webhook_endpoints e, webhook_events ev
         where d.id = ? and d.attempts = ? - 1 and d.status = 'pending' and e.id = d.endpoint_id and ev.id = d.event_id
           and (d.attempting_since is null or d.attempting_since < now() - (? * interval '1 second'))
         returning d.id, e.id as endpoint_id, e.facility_id, e.url, e.enabled, coalesce(e.description, e.url) as endpoint_name,
           ev.id as event_id, ev.type, ev.data, ev.created_at,
           array(select sealed from webhook_secrets s where s.endpoint_id = e.id and (s.ends_at is null or s.ends_at > now()) order by s.ends_at nulls first) as secrets`,
        [deliveryId, attempt, staleSeconds],
      )) as {
        rows: { id: string; endpoint_id: string; facility_id: string; url: string; enabled: boolean; endpoint_name: string; event_id: string; type: string; data: Record<string, unknown>; created_at: Date; secrets: Sealed[] }[];
      };
      const row = rows[0];
      if (!row) {
        const waiting = await queryable(db)('webhook_deliveries').where({ id: deliveryId, status: 'pending' }).whereRaw('attempts = ? - 1', [attempt]).first('id');
        return waiting ? 'busy' : undefined;
      }
      if (!row.enabled) {
        await queryable(db)('webhook_deliveries').where({ id: deliveryId }).update({ status: 'failed', attempting_since: null, error: 'the endpoint is turned off' });
        return undefined;
      }
      return {
        delivery: { id: row.id, attempt },
        endpoint: { id: row.endpoint_id, facilityId: row.facility_id, url: row.url, name: row.endpoint_name },
        event: { id: row.event_id, type: row.type, data: row.data, createdAt: row.created_at },
        secrets: row.secrets.map((sealed) => (typeof sealed === 'string' ? JSON.parse(sealed) : sealed) as Sealed),
      };
    },

    /**
     * Records an attempt: its outcome on the delivery (succeeded, pending
     * again at `retryAt`, or failed), and on the endpoint when it has failed
     * since (null again after a success). Returns since when the endpoint
     * has failed without a success in between (null after a success).
     */
    async finish(deliveryId: string, endpointId: string, outcome: AttemptOutcome): Promise<Date | null> {
      const status: DeliveryStatus = outcome.ok ? 'succeeded' : outcome.retryAt ? 'pending' : 'failed';
      await queryable(db)('webhook_deliveries')
        .where({ id: deliveryId })
        .update({
          status,
          attempts: db.raw('attempts + 1'),
          attempting_since: null,
          last_attempt_at: db.raw('now()'),
          next_attempt_at: outcome.retryAt ?? db.raw('now()'),
          response_status: outcome.status,
          duration_ms: outcome.durationMs,
          error: outcome.error,
        });
      const [row] = (await queryable(db)('webhook_endpoints')
        .where({ id: endpointId })
        .update({ failing_since: outcome.ok ? null : db.raw('coalesce(failing_since, now())') })
        .returning('failing_since')) as { failing_since: Date | null }[];
      return row?.failing_since ?? null;
    },

    /** Turns an endpoint off, with the reason staff will read; false when it was off already. */
    async disable(endpointId: string, reason: string): Promise<{ facilityId: string; name: string } | undefined> {
      const [row] = (await queryable(db)('webhook_endpoints')
        .where({ id: endpointId, enabled: true })
        .update({ enabled: false, disabled_reason: reason })
        .returning(['facility_id', db.raw('coalesce(description, url) as name')])) as { facility_id: string; name: string }[];
      return row && { facilityId: row.facility_id, name: row.name };
    },

    /** Deliveries waiting, and how long the oldest has waited past its time (seconds), for metrics. */
    async backlog(): Promise<{ pending: number; oldestSeconds: number }> {
      const row = (await db('webhook_deliveries')
        .where({ status: 'pending' })
        .first(db.raw('count(*)::int as pending'), db.raw('coalesce(extract(epoch from now() - min(next_attempt_at)), 0)::float as oldest'))) as { pending: number; oldest: number };
      return { pending: row.pending, oldestSeconds: Math.max(0, row.oldest) };
    },
  };
}

export type WebhookStore = ReturnType<typeof createWebhookStore>;
