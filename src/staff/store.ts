import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';
import type { Role, StaffMember } from './model.js';

const COLUMNS = ['id', 'facility_id', 'name', 'email', 'role', 'system_integrations'];

/** The unique index that keeps an email to one staff member, whatever its case. */
export const STAFF_EMAIL_CONSTRAINT = 'staff_email_unique';

interface StaffRow {
  id: string;
  facility_id: string;
  name: string;
  email: string;
  role: Role;
  system_integrations: boolean;
}

function toStaffMember(row: StaffRow): StaffMember {
  return {
    id: row.id,
    facilityId: row.facility_id,
    name: row.name,
    email: row.email,
    role: row.role,
    // An Owner always has it; the column is also forced on by a check constraint.
    permissions: { systemIntegrations: row.role === 'owner' || row.system_integrations },
  };
}

export function createStaffStore(db: Knex) {
  /** Finds a staff member of one facility; another facility's id reads as absent. */
  async function findInFacility(facilityId: string, id: string): Promise<StaffMember | undefined> {
    const row = (await queryable(db)('staff').select(COLUMNS).where({ id, facility_id: facilityId }).first()) as StaffRow | undefined;
    return row && toStaffMember(row);
  }

  return {
    findInFacility,
    async findById(id: string): Promise<StaffMember | undefined> {
      const row = (await queryable(db)('staff').select(COLUMNS).where({ id }).first()) as StaffRow | undefined;
      return row && toStaffMember(row);
    },

    async listByFacility(facilityId: string): Promise<StaffMember[]> {
      const rows: StaffRow[] = await queryable(db)('staff')
        .select(COLUMNS)
        .where({ facility_id: facilityId })
        .orderBy([{ column: 'name' }, { column: 'id' }]);
      return rows.map(toStaffMember);
    },

    /** The member and their password hash, for sign-in only. */
    async findCredentialsByEmail(email: string): Promise<{ member: StaffMember; passwordHash: string } | undefined> {
      const row = (await queryable(db)('staff')
        .select([...COLUMNS, 'password_hash'])
        .whereRaw('lower(email) = lower(?)', [email])
        .first()) as (StaffRow & { password_hash: string }) | undefined;
      return row && { member: toStaffMember(row), passwordHash: row.password_hash };
    },

    /** Adds a staff member. An email already in use (any facility, any case) violates STAFF_EMAIL_CONSTRAINT. */
    async insert(member: { id: string; facilityId: string; name: string; email: string; role: Role; passwordHash: string }): Promise<StaffMember> {
      const [row] = (await queryable(db)('staff')
        .insert({
          id: member.id,
          facility_id: member.facilityId,
          name: member.name,
          email: member.email,
          role: member.role,
          password_hash: member.passwordHash,
          system_integrations: member.role === 'owner',
        })
        .returning(COLUMNS)) as StaffRow[];
      return toStaffMember(row!);
    },

    async facilityName(facilityId: string): Promise<string | undefined> {
      const row = (await queryable(db)('facilities').select('name').where({ id: facilityId }).first()) as { name: string } | undefined;
      return row?.name;
    },

    /**
     * Sets the permission if it differs, in one statement (compare-and-set):
     * `changed` says whether this call changed it. Of two opposite changes at
     * once, the second waits for the first's row lock and compares with what
     * the first wrote, so each change that happens is seen by exactly one call.
     */
    async setSystemIntegrations(facilityId: string, id: string, enabled: boolean): Promise<{ staff: StaffMember; changed: boolean } | undefined> {
      const [row] = (await queryable(db)('staff')
        .where({ id, facility_id: facilityId })
        .whereNot({ system_integrations: enabled })
        .update({ system_integrations: enabled, updated_at: db.fn.now() })
        .returning(COLUMNS)) as StaffRow[];
      if (row) return { staff: toStaffMember(row), changed: true };
      const unchanged = await findInFacility(facilityId, id);
      return unchanged && { staff: unchanged, changed: false };
    },
  };
}

export type StaffStore = ReturnType<typeof createStaffStore>;
