import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';
import type { Role, StaffMember } from './model.js';

const COLUMNS = ['id', 'facility_id', 'name', 'email', 'role', 'system_integrations'];

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
  return {
    async findById(id: string): Promise<StaffMember | undefined> {
      const row = (await queryable(db)('staff').select(COLUMNS).where({ id }).first()) as StaffRow | undefined;
      return row && toStaffMember(row);
    },

    /** Finds a staff member of one facility; another facility's id reads as absent. */
    async findInFacility(facilityId: string, id: string): Promise<StaffMember | undefined> {
      const row = (await queryable(db)('staff').select(COLUMNS).where({ id, facility_id: facilityId }).first()) as StaffRow | undefined;
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

    async facilityName(facilityId: string): Promise<string | undefined> {
      const row = (await queryable(db)('facilities').select('name').where({ id: facilityId }).first()) as { name: string } | undefined;
      return row?.name;
    },

    async setSystemIntegrations(facilityId: string, id: string, enabled: boolean): Promise<StaffMember | undefined> {
      const [row] = await queryable(db)<StaffRow>('staff')
        .where({ id, facility_id: facilityId })
        .update({ system_integrations: enabled, updated_at: db.fn.now() } as never)
        .returning(COLUMNS);
      return row && toStaffMember(row as StaffRow);
    },
  };
}

export type StaffStore = ReturnType<typeof createStaffStore>;
