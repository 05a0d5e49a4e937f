import type { Knex } from 'knex';

import type { Fragment } from '../api-keys/verifier.js';
import { runStatement, statement, type Statement } from '../db/statement.js';
import { queryable } from '../db/transaction.js';
import { recordOutcomeSql } from '../idempotency/store.js';

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
  /** A Date from the driver; an ISO string inside a JSON snapshot. */
  created_at: Date | string;
}

const COLUMNS = ['id', 'facility_id', 'location_id', 'first_name', 'last_name', 'email', 'phone', 'source', 'notes', 'status', 'created_at'];

/** The lead's own fields; the facility and the creating key come from the key. */
export type NewLead = Omit<Lead, 'createdAt' | 'status' | 'facilityId'>;

/**
 * Where a new lead's facility and key come from: a row source of
 * `(key_id, facility_id)` with a name that identifies its SQL text (the
 * statement is prepared once per name). Either the verifier's live-key check
 * (`liveKeySource`: no live key, no row, nothing written) or a key verified
 * before the write (`verifiedKey`).
 */
export interface KeySource extends Fragment {
  name: string;
}

/** A key the verifier already accepted, as a row source. */
export function verifiedKey(principal: { keyId: string; facilityId: string }): KeySource {
  return { name: 'verified', sql: 'select ?::uuid as key_id, ?::uuid as facility_id', bindings: [principal.keyId, principal.facilityId] };
}

/** Also writes the outcome of an Idempotency-Key (see `recordOutcomeSql`). */
export interface Once {
  mode: 'insert' | 'complete';
  key: string;
  fingerprint: string;
}

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
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
  };
}

/** A lead from the snapshot an Idempotency-Key record keeps (the inserted row, as JSON). */
export function leadFromSnapshot(snapshot: unknown): Lead {
  return toLead(snapshot as MemberRow);
}

const INSERT_FROM_KEY = `insert into members (id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_by_key)
  select ?::uuid, k.facility_id, ?::uuid, ?, ?, ?, ?, ?, ?, 'lead', k.key_id
  from k
  returning ${COLUMNS.join(', ')}, created_by_key`;

/**
 * The Leads API's write, one statement: the key source as the CTE `k`, the
 * insert from it, and with `once` the Idempotency-Key's record of the same
 * row (its snapshot, which a replay presents like a first answer).
 */
function insertSql(source: KeySource, once: Once['mode'] | undefined): string {
  if (!once) return `with k as (${source.sql})\n  ${INSERT_FROM_KEY}`;
  return `with k as (${source.sql}),
  lead as (${INSERT_FROM_KEY}),
  record as (${recordOutcomeSql({ mode: once, scope: 'lead.created_by_key', status: 201, result: 'to_jsonb(lead)', from: 'lead' })})
  select lead.* from lead`;
}

export function createLeadStore(db: Knex) {
  const statements = new Map<string, Statement>();
  const prepared = (source: KeySource, once: Once['mode'] | undefined) => {
    const name = once ? `leads_insert_${source.name}_${once}` : source.name === 'live' ? 'leads_insert_live' : `leads_insert_${source.name}`;
    let found = statements.get(name);
    if (!found) statements.set(name, (found = statement(name, insertSql(source, once))));
    return found;
  };

  return {
    /**
     * Inserts a lead for the key `source` yields, in one statement; the
     * facility and `created_by_key` come from that key. Undefined when the
     * source gave no key (the caller finds out why). The database enforces
     * the rest: one member per email in a facility (EMAIL_CONSTRAINT), a
     * location of the same facility (LOCATION_CONSTRAINT), and with `once`
     * an Idempotency-Key used before fails on the record's primary key.
     */
    async insert(lead: NewLead, source: KeySource, once?: Once): Promise<Lead | undefined> {
      const values = [
        ...source.bindings,
        lead.id,
        lead.locationId,
        lead.firstName,
        lead.lastName,
        lead.email,
        lead.phone,
        lead.source,
        lead.notes,
        ...(once ? (once.mode === 'insert' ? [once.key, once.fingerprint] : [once.key]) : []),
      ];
      const [row] = await runStatement<MemberRow>(db, prepared(source, once?.mode), values);
      return row && toLead(row);
    },

    /** A lead created by this very key (another key's, or an unknown id, reads as absent). */
    async findCreatedBy(keyId: string, id: string): Promise<Lead | undefined> {
      const row = (await queryable(db)('members').select(COLUMNS).where({ id, created_by_key: keyId }).first()) as MemberRow | undefined;
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
