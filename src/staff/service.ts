import { conflict, notFound } from '../http/errors.js';
import type { StaffMember } from './model.js';
import type { StaffStore } from './store.js';

export const TRAINER_WARNING =
  'System Integrations is now on for a Trainer. Trainers rarely need to manage API keys; grant it only if this person must, and turn it off when done.';

export function createStaffService(deps: { store: StaffStore }) {
  const { store } = deps;
  return {
    list(actor: StaffMember): Promise<StaffMember[]> {
      return store.listByFacility(actor.facilityId);
    },

    /**
     * Turns System Integrations on or off for a staff member of the actor's
     * facility. An Owner always has it; granting it to a Trainer works but
     * comes back with a warning.
     */
    async setSystemIntegrations(actor: StaffMember, staffId: string, enabled: boolean): Promise<{ staff: StaffMember; warnings: string[] }> {
      const target = await store.findInFacility(actor.facilityId, staffId);
      if (!target) throw notFound('No staff member with this id.');
      if (target.role === 'owner' && !enabled) {
        throw conflict('An Owner always has System Integrations; it cannot be turned off.');
      }
      const staff = await store.setSystemIntegrations(actor.facilityId, staffId, enabled);
      if (!staff) throw notFound('No staff member with this id.');
      return { staff, warnings: staff.role === 'trainer' && enabled ? [TRAINER_WARNING] : [] };
    },
  };
}

export type StaffService = ReturnType<typeof createStaffService>;
