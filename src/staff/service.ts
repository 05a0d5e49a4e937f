import type { Knex } from 'knex';

import type { RequestOrigin } from '../audit/model.js';
import { staffActor, type AuditLog } from '../audit/service.js';
import { inTransaction } from '../db/transaction.js';
import { conflict, notFound } from '../http/errors.js';
import type { StaffMember } from './model.js';
import type { StaffStore } from './store.js';

export const TRAINER_WARNING =
  'System Integrations is now on for a Trainer. Trainers rarely need to manage API keys; grant it only if this person must, and turn it off when done.';

export function createStaffService(deps: { db: Knex; store: StaffStore; audit: AuditLog }) {
  const { db, store, audit } = deps;
  return {
    list(actor: StaffMember): Promise<StaffMember[]> {
      return store.listByFacility(actor.facilityId);
    },

    /** The name of the staff member's facility (the console shows it, so two gyms' Owners can tell their pages apart). */
    async facilityName(staff: StaffMember): Promise<string> {
      return (await store.facilityName(staff.facilityId)) ?? '';
    },

    /**
     * Turns System Integrations on or off for a staff member of the actor's
     * facility. An Owner always has it; granting it to a Trainer works but
     * comes back with a warning. A change is audited in its own transaction:
     * exactly one event for each change that happens, however many requests
     * race (the store compares and sets).
     */
    async setSystemIntegrations(
      caller: { staff: StaffMember; origin: RequestOrigin },
      staffId: string,
      enabled: boolean,
    ): Promise<{ staff: StaffMember; warnings: string[] }> {
      const { staff: actor } = caller;
      const staff = await inTransaction(db, async () => {
        const target = await store.findInFacility(actor.facilityId, staffId);
        if (!target) throw notFound('No staff member with this id.');
        if (target.role === 'owner' && !enabled) {
          throw conflict('An Owner always has System Integrations; it cannot be turned off.');
        }
        const result = await store.setSystemIntegrations(actor.facilityId, staffId, enabled);
        if (!result) throw notFound('No staff member with this id.');
        const { staff: updated, changed } = result;
        if (changed) {
          await audit.record({
            facilityId: actor.facilityId,
            action: enabled ? 'staff.permission_granted' : 'staff.permission_revoked',
            actor: staffActor(actor),
            target: { type: 'staff', id: updated.id, name: updated.name },
            origin: caller.origin,
            details: { permission: 'systemIntegrations', role: updated.role },
          });
        }
        return updated;
      });
      return { staff, warnings: staff.role === 'trainer' && enabled ? [TRAINER_WARNING] : [] };
    },
  };
}

export type StaffService = ReturnType<typeof createStaffService>;
