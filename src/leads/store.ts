import type { Knex } from 'knex';

import { runStatement, statement } from '../db/statement.js';
import { queryable } from '../db/transaction.js';
import { LIVE_API_KEY_SQL, liveApiKeyBindings, type ApiKeyCheck } from '../resource-server/key-check-sql.js';

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
  created_at: Date;
}

const COLUMNS = ['id', 'facility_id', 'location_id', 'first_name', 'last_name', 'email', 'phone', 'source', 'notes', 'status', 'created_at'];

/** The lead's own fields; the facility and the creating key come from the key. */
export type NewLead = Omit<Lead, 'createdAt' | 'status' | 'facilityId'>;

/**
 * Inserts a lead for the API key that LIVE_API_KEY_SQL finds: no row there,
 * no insert. The Leads API's hot path: plain SQL, run by `runStatement`.
 */
const INSERT_CHECKED_BY_KEY = statement('leads_insert_checked_by_key', `insert into members (id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_by_key)
  select ?::uuid, k.facility_id, ?::uuid, ?, ?, ?, ?, ?, ?, 'lead', k.key_id
  from (${LIVE_API_KEY_SQL}) k
  returning ${COLUMNS.join(', ')}`);

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
     * the facility and `created_by_key` come from that key. Undefined when the
     * key did not pass (the caller finds out why). Same constraints as `insert`.
     */
    async insertCheckedByKey(lead: NewLead, check: ApiKeyCheck): Promise<Lead | undefined> {
      const [row] = await runStatement<MemberRow>(db, INSERT_CHECKED_BY_KEY, [
        lead.id,
        lead.locationId,
        lead.firstName,
        lead.lastName,
        lead.email,
        lead.phone,
        lead.source,
        lead.notes,
        ...liveApiKeyBindings(check),
      ]);
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
