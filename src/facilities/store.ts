import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';

/** A rate limit: at most `limit` requests per `windowSeconds`. */
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** A facility's rules for its API keys. */
export interface KeyPolicy {
  /** Null: keys may live for ever. Set: a key expires at most this many days after it is created. */
  maxLifetimeDays: number | null;
  /** The rate limit of a key that has none of its own. */
  defaultRateLimit: RateLimit;
}

interface PolicyRow {
  api_key_max_lifetime_days: number | null;
  api_key_rate_limit: number;
  api_key_rate_window_seconds: number;
}

const POLICY_COLUMNS = ['api_key_max_lifetime_days', 'api_key_rate_limit', 'api_key_rate_window_seconds'];

function toPolicy(row: PolicyRow): KeyPolicy {
  return {
    maxLifetimeDays: row.api_key_max_lifetime_days,
    defaultRateLimit: { limit: row.api_key_rate_limit, windowSeconds: row.api_key_rate_window_seconds },
  };
}

export function createFacilityStore(db: Knex) {
  return {
    async insert(facility: { id: string; name: string }): Promise<void> {
      await queryable(db)('facilities').insert(facility);
    },

    /** The facility's locations, by name. */
    async locations(facilityId: string): Promise<{ id: string; name: string }[]> {
      return (await queryable(db)('locations').select('id', 'name').where({ facility_id: facilityId }).orderBy([{ column: 'name' }, { column: 'id' }])) as { id: string; name: string }[];
    },

    async exists(facilityId: string): Promise<boolean> {
      return (await queryable(db)('facilities').where({ id: facilityId }).first('id')) !== undefined;
    },

    async keyPolicy(facilityId: string): Promise<KeyPolicy> {
      const row = (await queryable(db)('facilities').select(POLICY_COLUMNS).where({ id: facilityId }).first()) as PolicyRow | undefined;
      if (!row) throw new Error(`no facility ${facilityId}`);
      return toPolicy(row);
    },

    async setKeyPolicy(facilityId: string, policy: KeyPolicy): Promise<KeyPolicy> {
      const [row] = (await queryable(db)('facilities')
        .where({ id: facilityId })
        .update({
          api_key_max_lifetime_days: policy.maxLifetimeDays,
          api_key_rate_limit: policy.defaultRateLimit.limit,
          api_key_rate_window_seconds: policy.defaultRateLimit.windowSeconds,
        })
        .returning(POLICY_COLUMNS)) as PolicyRow[];
      return toPolicy(row!);
    },

    /** Keys still accepted (not deleted, revoked or expired) whose expiry lies beyond `maxLifetimeDays` from their creation, or that never expire. */
    async countKeysBeyondLifetime(facilityId: string, maxLifetimeDays: number): Promise<number> {
      const row = (await queryable(db)('api_keys')
        .where({ facility_id: facilityId })
        .whereNull('deleted_at')
        .whereNull('revoked_at')
        .where((query) => query.whereNull('expires_at').orWhere('expires_at', '>', db.raw('now()')))
        .where((query) =>
          query.whereNull('expires_at').orWhereRaw(`expires_at > created_at + (? * interval '1 day')`, [maxLifetimeDays]),
        )
        .count('* as n')
        .first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },
  };
}

export type FacilityStore = ReturnType<typeof createFacilityStore>;
