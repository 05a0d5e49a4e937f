import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';

export const EMAIL_CONSTRAINT = 'members_facility_email_unique';
export const LOCATION_CONSTRAINT = 'members_location_in_facility';

export interface Lead {
  id: string;
  facilityId: string;
  locationId: string | null;
  firstName: string;
  lastName: string;
  email: string;
  phone: string | null;
  source: string | null;
  notes: string | null;
  status: 'lead';
  createdAt: Date;
}

/** The lead's own fields; the facility and the creating key come from the key. */
export type NewLead = Omit<Lead, 'createdAt' | 'status' | 'facilityId'>;

export interface MemberRow {
  id: string;
  facility_id: string;
  location_id: string | null;
  first_name: string;
  last_name: string;
  email: string;
  phone: string | null;
  source: string | null;
  notes: string | null;
  status: 'lead';
  /** A Date from the driver; an ISO string inside a JSON snapshot. */
  created_at: Date | string;
}

const COLUMNS = ['id', 'facility_id', 'location_id', 'first_name', 'last_name', 'email', 'phone', 'source', 'notes', 'status', 'created_at'];

/** What an insert returns. */
export const RETURNING = `returning ${COLUMNS.join(', ')}, created_by_key`;

/** The columns a lead is inserted with, in the order `insertLeadSql`'s `values` give them. */
const INSERT_COLUMNS = 'id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_by_key, idempotency_key, request_fingerprint';

/** The unique indexes a lead may be left out on (`insertLeadSql`'s `skipTaken`): EMAIL_CONSTRAINT's, and `members_idempotency_key_unique`. */
const ARBITERS = {
  email: '(facility_id, lower(email))',
  key: '(created_by_key, idempotency_key) where idempotency_key is not null',
};

/**
 * An insert of leads into members, as a statement part: `values` is a
 * select list of SQL expressions in the order id, location, first name,
 * last name, email, phone, source, notes; the facility and the creating key
 * are the columns `facility_id` and `key_id` of `keys`, the row source the
 * lead is selected `from` (a lead whose key source gives no row is not
 * written). With `once`, the lead keeps its Idempotency-Key and the
 * request's fingerprint (SQL expressions). The database enforces the rest:
 * one member per email in a facility (EMAIL_CONSTRAINT), a location of the
 * same facility (LOCATION_CONSTRAINT), an Idempotency-Key once per API key
 * (`members_idempotency_key_unique`). `skipTaken` leaves out a lead whose email is already
 * a member (`email`), or whose Idempotency-Key a lead already has (`key`;
 * waiting, as any conflict does, for a lead still being written with it);
 * any other conflict still fails the statement.
 */
export function insertLeadSql(parts: {
  values: string[];
  keys: string;
  from: string;
  where?: string;
  once?: { key: string; fingerprint: string };
  skipTaken?: 'email' | 'key';
}): string {
  const [id, ...rest] = parts.values;
  const once = parts.once ? `${parts.once.key}, ${parts.once.fingerprint}` : 'null, null';
  const arbiter = parts.skipTaken ? `\n  on conflict ${ARBITERS[parts.skipTaken]} do nothing` : '';
  return `insert into members (${INSERT_COLUMNS})
  select ${id}, ${parts.keys}.facility_id, ${rest.join(', ')}, 'lead', ${parts.keys}.key_id, ${once}
  from ${parts.from}${parts.where ? `\n  where ${parts.where}` : ''}${arbiter}
  ${RETURNING}`;
}

/** A lead whose location is not one of its key's facility, as a condition over `keys` and a location expression (what LOCATION_CONSTRAINT refuses). */
export function locationInFacilitySql(keys: string, location: string): string {
  return `(${location} is null or exists (select 1 from locations l where l.facility_id = ${keys}.facility_id and l.id = ${location}))`;
}

export function toLead(row: MemberRow): Lead {
  return {
    id: row.id,
    facilityId: row.facility_id,
    locationId: row.location_id,
    firstName: row.first_name,
    lastName: row.last_name,
    email: row.email,
    phone: row.phone,
    source: row.source,
    notes: row.notes,
    status: row.status,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
  };
}

/** A lead from the snapshot an Idempotency-Key record kept (the inserted row, as JSON; records written before leads kept their keys). */
export function leadFromSnapshot(snapshot: unknown): Lead {
  return toLead(snapshot as MemberRow);
}

/**
 * A position in the read order of leads: the transaction that wrote the
 * lead, its creation time (in microseconds since the epoch, as stored) and
 * its id. Leads become visible to readers in this order only (see `listAfter`).
 */
export interface LeadCursor {
  xid: string;
  createdMicros: string;
  id: string;
}

/** Before every lead. */
export const FIRST_CURSOR: LeadCursor = { xid: '0', createdMicros: '0', id: '00000000-0000-0000-0000-000000000000' };

export interface LeadFilters {
  facilityId: string;
  /** A key limited to locations reads only theirs (null: every lead of the facility). */
  locationIds: string[] | null;
  locationId?: string | undefined;
  source?: string | undefined;
  createdSince?: Date | undefined;
}

/** The members table: the leads' reads (their writes go through `insertLeadSql`, see writer.ts). */
export function createLeadStore(db: Knex) {
  return {
    /**
     * The next leads after `cursor`, oldest first, and each one's cursor.
     * A lead is read only once every transaction older than the oldest
     * still running has ended (`pg_snapshot_xmin`): a lead written by a
     * transaction that began earlier but commits later can never sort
     * behind a cursor already handed out, so a reader that polls from its
     * last cursor misses none and reads none twice, however leads are
     * written (one at a time, many in one statement, concurrently).
     */
    async listAfter(cursor: LeadCursor, filters: LeadFilters, limit: number): Promise<{ lead: Lead; cursor: LeadCursor }[]> {
      const query = queryable(db)('members')
        .select(COLUMNS)
        .select(db.raw('created_xid::text as cursor_xid'), db.raw(`(extract(epoch from created_at) * 1000000)::bigint::text as cursor_micros`))
        .where({ facility_id: filters.facilityId, status: 'lead' })
        .whereRaw('created_xid < pg_snapshot_xmin(pg_current_snapshot())')
        .whereRaw(`(created_xid, created_at, id) > (?::xid8, 'epoch'::timestamptz + ?::bigint * interval '1 microsecond', ?::uuid)`, [
          cursor.xid,
          cursor.createdMicros,
          cursor.id,
        ])
        .orderBy([{ column: 'created_xid' }, { column: 'created_at' }, { column: 'id' }])
        .limit(limit);
      if (filters.locationIds) query.whereRaw('location_id = any(?::uuid[])', [filters.locationIds]);
      if (filters.locationId) query.where({ location_id: filters.locationId });
      if (filters.source !== undefined) query.where({ source: filters.source });
      if (filters.createdSince) query.where('created_at', '>=', filters.createdSince);
      const rows = (await query) as (MemberRow & { cursor_xid: string; cursor_micros: string })[];
      return rows.map((row) => ({ lead: toLead(row), cursor: { xid: row.cursor_xid, createdMicros: row.cursor_micros, id: row.id } }));
    },

    /** A lead of the facility (of these locations, when given); another facility's, or an unknown id, reads as absent. */
    async findInFacility(facilityId: string, id: string, locationIds: string[] | null): Promise<Lead | undefined> {
      const query = queryable(db)('members').select(COLUMNS).where({ id, facility_id: facilityId, status: 'lead' });
      if (locationIds) query.whereRaw('location_id = any(?::uuid[])', [locationIds]);
      const row = (await query.first()) as MemberRow | undefined;
      return row && toLead(row);
    },

    /** A lead created by this very key (another key's, or an unknown id, reads as absent). */
    async findCreatedBy(keyId: string, id: string): Promise<Lead | undefined> {
      const row = (await queryable(db)('members').select(COLUMNS).where({ id, created_by_key: keyId }).first()) as MemberRow | undefined;
      return row && toLead(row);
    },

    /**
     * The lead this API key created with this Idempotency-Key, and the
     * fingerprint of the request that created it: what a retry is replayed
     * from (its row holds exactly what the first answer presented).
     */
    async findByIdempotencyKey(keyId: string, key: string): Promise<{ fingerprint: string; lead: Lead } | undefined> {
      const row = (await queryable(db)('members')
        .select([...COLUMNS, 'request_fingerprint'])
        .where({ created_by_key: keyId, idempotency_key: key })
        .first()) as (MemberRow & { request_fingerprint: string }) | undefined;
      return row && { fingerprint: row.request_fingerprint, lead: toLead(row) };
    },

    async findIdByEmail(facilityId: string, email: string): Promise<string | undefined> {
      const row = (await queryable(db)('members')
        .select('id')
        .where({ facility_id: facilityId })
        .whereRaw('lower(email) = lower(?)', [email])
        .first()) as { id: string } | undefined;
      return row?.id;
    },
  };
}

export type LeadStore = ReturnType<typeof createLeadStore>;
