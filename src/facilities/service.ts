import type { StaffMember } from '../staff/model.js';
import type { FacilityStore, KeyPolicy } from './store.js';

export function createFacilityService(deps: { store: FacilityStore }) {
  const { store } = deps;

  /** The policy, and how many live keys outlive its maximum lifetime (they keep their expiry). */
  async function withCount(facilityId: string, policy: KeyPolicy) {
    const keysBeyondMaxLifetime = policy.maxLifetimeDays === null ? 0 : await store.countKeysBeyondLifetime(facilityId, policy.maxLifetimeDays);
    return { ...policy, keysBeyondMaxLifetime };
  }

  return {
    async keyPolicy(staff: StaffMember) {
      return withCount(staff.facilityId, await store.keyPolicy(staff.facilityId));
    },

    /** Sets the facility's key policy. A new maximum lifetime applies to keys created after it; existing keys keep their expiry. */
    async setKeyPolicy(staff: StaffMember, policy: KeyPolicy) {
      return withCount(staff.facilityId, await store.setKeyPolicy(staff.facilityId, policy));
    },
  };
}

export type FacilityService = ReturnType<typeof createFacilityService>;
