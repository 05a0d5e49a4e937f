import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';

/** A key's last use is written at most this often (per key, whichever process saw it). */
export const USAGE_RESOLUTION_MS = 60_000;

/** A use of a key's secret: when, and from which address. */
export interface Use {
  tokenHash: string;
  ip: string;
  at: Date;
}

/** A key's first use from an address it was never used from. */
export interface FirstUse {
  keyId: string;
  keyName: string;
  facilityId: string;
  ip: string;
}

/** The SQL of key usage: last use per secret, and the addresses each key was used from. */
export function createUsageStore(db: Knex) {
  return {
    /**
     * Writes each secret's latest use, in one statement, skipping a secret
     * whose last use was written less than USAGE_RESOLUTION_MS before (by
     * this process or any other). Rows in one order (by secret), so two
     * processes' writes lock rows in the same order.
     */
    async recordLastUse(latest: Use[]): Promise<void> {
      await queryable(db).raw(
        `update api_key_secrets s set last_used_at = v.at, last_used_ip = v.ip
         from unnest(?::text[], ?::timestamptz[], ?::text[]) as v(token_hash, at, ip)
         where s.token_hash = v.token_hash
           and (s.last_used_at is null or s.last_used_at <= v.at - (? * interval '1 millisecond'))`,
        [latest.map((use) => use.tokenHash), latest.map((use) => use.at.toISOString()), latest.map((use) => use.ip), USAGE_RESOLUTION_MS],
      );
    },

    /** Records the addresses keys were used from; answers the ones new to their key. */
    async addAddresses(uses: Use[]): Promise<FirstUse[]> {
      const { rows } = (await queryable(db).raw(
        `with inserted as (
           insert into api_key_ips (key_id, ip)
           select distinct s.key_id, v.ip from unnest(?::text[], ?::text[]) as v(token_hash, ip) join api_key_secrets s on s.token_hash = v.token_hash
           order by s.key_id, v.ip
           on conflict do nothing
           returning key_id, ip)
         select i.key_id, i.ip, k.facility_id, k.name from inserted i join api_keys k on k.id = i.key_id`,
        [uses.map((use) => use.tokenHash), uses.map((use) => use.ip)],
      )) as { rows: { key_id: string; ip: string; facility_id: string; name: string }[] };
      return rows.map((row) => ({ keyId: row.key_id, keyName: row.name, facilityId: row.facility_id, ip: row.ip }));
    },
  };
}

export type UsageStore = ReturnType<typeof createUsageStore>;
