import type { Knex } from 'knex';

import { deleteInBatches } from '../db/housekeeping.js';
import { queryable } from '../db/transaction.js';
import type { DailyCount, Outcome } from './usage-counts.js';

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

/** How long a key's daily counts are kept. */
export const USAGE_RETENTION_DAYS = 400;

/** One stored count: a key's requests on a UTC day (`YYYY-MM-DD`) that ended one way. */
export interface StoredCount {
  day: string;
  outcome: Outcome;
  requests: number;
}

/** The SQL of key usage: last use per secret, the addresses each key was used from, and each key's requests per day. */
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

    /**
     * Adds counts to each key's days, in one statement: a count by secret
     * goes to the secret's key (a secret that is not ours adds nothing);
     * counts of one key, day and outcome are summed first (two secrets of
     * one key, during a rotation), and rows go in one order, so two
     * processes adding at once take the rows' locks in the same order. The
     * upsert adds to what is there: no process's count overwrites another's.
     */
    async addDailyCounts(counts: DailyCount[]): Promise<void> {
      if (counts.length === 0) return;
      await queryable(db).raw(
        `insert into api_key_usage_days as u (key_id, day, outcome, requests)
         select coalesce(nullif(v.key_id, '')::uuid, s.key_id), v.day, v.outcome, sum(v.requests)
         from unnest(?::text[], ?::text[], ?::date[], ?::text[], ?::bigint[]) as v(token_hash, key_id, day, outcome, requests)
         left join api_key_secrets s on s.token_hash = nullif(v.token_hash, '')
         where coalesce(nullif(v.key_id, '')::uuid, s.key_id) is not null
         group by 1, 2, 3
         order by 1, 2, 3
         on conflict (key_id, day, outcome) do update set requests = u.requests + excluded.requests`,
        // Empty for "not this one": a text array binds no nulls here.
        [
          counts.map((count) => count.tokenHash ?? ''),
          counts.map((count) => count.keyId ?? ''),
          counts.map((count) => count.day),
          counts.map((count) => count.outcome),
          counts.map((count) => count.requests),
        ],
      );
    },

    /** A key's stored counts from one UTC day to another (both included, `YYYY-MM-DD`). */
    async countsBetween(keyId: string, from: string, to: string): Promise<StoredCount[]> {
      const rows = (await queryable(db)('api_key_usage_days')
        .where({ key_id: keyId })
        .whereBetween('day', [from, to])
        .select(db.raw(`to_char(day, 'YYYY-MM-DD') as day`), 'outcome', 'requests')) as { day: string; outcome: Outcome; requests: string | number }[];
      return rows.map((row) => ({ day: row.day, outcome: row.outcome, requests: Number(row.requests) }));
    },

    /** Leads a key created per UTC day, from one day to another (both included), from the members themselves. */
    async leadsBetween(keyId: string, from: string, to: string): Promise<Map<string, number>> {
      const { rows } = (await queryable(db).raw(
        `select to_char((created_at at time zone 'UTC')::date, 'YYYY-MM-DD') as day, count(*)::int as leads
         from members
         where created_by_key = ? and created_at >= (?::date)::timestamp at time zone 'UTC' and created_at < (?::date + 1)::timestamp at time zone 'UTC'
         group by 1`,
        [keyId, from, to],
      )) as { rows: { day: string; leads: number }[] };
      return new Map(rows.map((row) => [row.day, Number(row.leads)]));
    },

    /** Removes daily counts older than `days` (in bounded batches; safe from every process at once). */
    async deleteDaysOlderThan(days: number, batchSize = 1000): Promise<number> {
      return deleteInBatches(batchSize, () =>
        db('api_key_usage_days')
          .whereIn(
            ['key_id', 'day', 'outcome'],
            db('api_key_usage_days').select('key_id', 'day', 'outcome').where('day', '<', db.raw(`(now() at time zone 'UTC')::date - ?::int`, [days])).limit(batchSize),
          )
          .delete(),
      );
    },
  };
}

export type UsageStore = ReturnType<typeof createUsageStore>;
