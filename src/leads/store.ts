import type { Knex } from 'knex';

import { runStatement, statement } from '../db/statement.js';
import { queryable } from '../db/transaction.js';
import { insertCompletedRecordSql } from '../idempotency/store.js';
import { LIVE_API_KEY_SQL, liveApiKeyBindings, type ApiKeyCheck } from '../resource-server/key-check-sql.js';

export const EMAIL_CONSTRAINT = 'members_facility_email_unique';
export const LOCATION_CONSTRAINT = 'members_location_in_facility';
/** A lead's URL is this and its id (the 201's Location). */
export const LEAD_PATH = '/api/v1/leads/';

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

interface MemberRow {
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
  created_at: Date;
}

const COLUMNS = ['id', 'facility_id', 'location_id', 'first_name', 'last_name', 'email', 'phone', 'source', 'notes', 'status', 'created_at'];

/** The lead's own fields; the facility and the creating key come from the key. */
export type NewLead = Omit<Lead, 'createdAt' | 'status' | 'facilityId'>;

/**
 * Inserts a lead for the API key that LIVE_API_KEY_SQL finds (as the CTE
 * `k`): no row there, no insert. The Leads API's hot path: plain SQL, run by
 * `runStatement`.
 */
const INSERT_FROM_KEY = `insert into members (id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_by_key)
  select ?::uuid, k.facility_id, ?::uuid, ?, ?, ?, ?, ?, ?, 'lead', k.key_id
  from k
  returning ${COLUMNS.join(', ')}, created_by_key`;

const INSERT_CHECKED_BY_KEY = statement('leads_insert_checked_by_key', `with k as (${LIVE_API_KEY_SQL})
  ${INSERT_FROM_KEY}`);

/**
 * The lead as the API presents it (`presentLead`), in SQL: what an
 * Idempotency-Key's record keeps for replay. Each returned column under its
 * camelCase name (as `toLead` maps them); `createdAt` in milliseconds, as
 * JavaScript's toISOString gives it (both truncate the microseconds).
 */
const LEAD_JSON_SQL = `jsonb_build_object(${COLUMNS.map((column) => {
  const field = column.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  const value = column === 'created_at' ? `to_char(lead.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` : `lead.${column}`;
  return `'${field}', ${value}`;
}).join(', ')})`;

/** The same insert, and the completed Idempotency-Key record of its 201, in one statement. */
const INSERT_CHECKED_BY_KEY_ONCE = statement('leads_insert_checked_by_key_once', `with k as (${LIVE_API_KEY_SQL}),
  lead as (${INSERT_FROM_KEY}),
  record as (${insertCompletedRecordSql({
    scope: 'lead.created_by_key',
    status: 201,
    body: LEAD_JSON_SQL,
    headers: `jsonb_build_object('Location', '${LEAD_PATH}' || lead.id)`,
    from: 'lead',
  })})
  select lead.* from lead`);

function toLead(row: MemberRow): Lead {
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
    createdAt: row.created_at,
  };
}

export function createLeadStore(db: Knex) {
  return {
    /**
     * Inserts a lead member in one statement. The database enforces the rest:
     * one member per email in a facility (EMAIL_CONSTRAINT) and a location of
     * the same facility (LOCATION_CONSTRAINT).
     */
    async insert(lead: NewLead & { facilityId: string; createdByKey: string }): Promise<Lead> {
      const [row] = (await queryable(db)('members')
        .insert({
          id: lead.id,
          facility_id: lead.facilityId,
          location_id: lead.locationId,
          first_name: lead.firstName,
          last_name: lead.lastName,
          email: lead.email,
          phone: lead.phone,
          source: lead.source,
          notes: lead.notes,
          status: 'lead',
          created_by_key: lead.createdByKey,
        })
        .returning(COLUMNS)) as MemberRow[];
      return toLead(row!);
    },

    /**
     * Inserts a lead only if `check` names a live API key, in one statement;
     * the facility and `created_by_key` come from that key. With `once`, the
     * same statement records the 201 under that Idempotency-Key (see
     * `insertCompletedRecordSql`). Undefined when the key did not pass (the
     * caller finds out why). Same constraints as `insert`, and with `once` a
     * key already used fails on the record's primary key.
     */
    async insertCheckedByKey(lead: NewLead, check: ApiKeyCheck, once?: { key: string; fingerprint: string }): Promise<Lead | undefined> {
      const values = [
        ...liveApiKeyBindings(check),
        lead.id,
        lead.locationId,
        lead.firstName,
        lead.lastName,
        lead.email,
        lead.phone,
        lead.source,
        lead.notes,
      ];
      const [row] = once
        ? await runStatement<MemberRow>(db, INSERT_CHECKED_BY_KEY_ONCE, [...values, once.key, once.fingerprint])
        : await runStatement<MemberRow>(db, INSERT_CHECKED_BY_KEY, values);
      return row && toLead(row);
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
