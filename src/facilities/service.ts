import type { Knex } from 'knex';

import type { RequestOrigin } from '../audit/model.js';
import { staffActor, type AuditLog } from '../audit/service.js';
import { inTransaction } from '../db/transaction.js';
import type { StaffMember } from '../staff/model.js';
import type { FacilityStore, KeyPolicy } from './store.js';

export function createFacilityService(deps: { db: Knex; store: FacilityStore; audit: AuditLog }) {
  const { db, store, audit } = deps;

  /** The policy, and how many live keys outlive its maximum lifetime (they keep their expiry). */
  async function withCount(facilityId: string, policy: KeyPolicy) {
    const keysBeyondMaxLifetime = policy.maxLifetimeDays === null ? 0 : await store.countKeysBeyondLifetime(facilityId, policy.maxLifetimeDays);
    return { ...policy, keysBeyondMaxLifetime };
  }

  return {
    /** The facility's locations (any staff member may read them). */
    locations(staff: StaffMember) {
      return store.locations(staff.facilityId);
    },

    async keyPolicy(staff: StaffMember) {
      return withCount(staff.facilityId, await store.keyPolicy(staff.facilityId));
    },

    /**
     * Sets the facility's key policy, audited with what it was before. A new
     * maximum lifetime applies to keys created after it; existing keys keep
     * their expiry.
     */
    async setKeyPolicy(caller: { staff: StaffMember; origin: RequestOrigin }, policy: KeyPolicy) {
      const { staff } = caller;
      const saved = await inTransaction(db, async () => {
        const before = await store.keyPolicy(staff.facilityId);
        const after = await store.setKeyPolicy(staff.facilityId, policy);
        await audit.record({
          facilityId: staff.facilityId,
          action: 'settings.api_keys_changed',
          actor: staffActor(staff),
          origin: caller.origin,
          details: { before, after },
        });
        return after;
      });
      return withCount(staff.facilityId, saved);
    },
  };
}

export type FacilityService = ReturnType<typeof createFacilityService>;
