import type { Knex } from 'knex';

import { deleteInBatches } from '../db/housekeeping.js';
import { queryable } from '../db/transaction.js';

/**
 * The outcome of a request, kept for replay: its status and the result it
 * produced (the created resource as the domain sees it, or a problem), never
 * an HTTP body. A replay goes through the same presenter as the first answer.
 */
export interface StoredOutcome {
  status: number;
  result: unknown;
}

export interface IdempotencyRecord {
  fingerprint: string;
  startedAt: Date;
  outcome: StoredOutcome | undefined;
}

const TABLE = 'idempotency_records';

/**
 * SQL that completes the record `run` claimed with an effect's outcome, in
 * the same statement as the effect (a data-modifying CTE): the effect and
 * its record commit together, in one round trip. Every part is a SQL
 * expression over the rows `from` names, so no row there, no record: the
 * API key the record is scoped to (`scope`), the Idempotency-Key (`key`)
 * and the result kept for replays (`result`).
 */
export function completeRecordSql(sql: { scope: string; key: string; status: number; result: string; from: string }): string {
  return `update ${TABLE} set response_status = ${sql.status}, response_body = ${sql.result}, completed_at = now()
  from ${sql.from}
  where ${TABLE}.api_key_id = ${sql.scope} and ${TABLE}.idempotency_key = ${sql.key}`;
}

/**
 * A SQL condition: no record of this Idempotency-Key (`key`) for this API
 * key (`scope`), neither an attempt in flight nor a kept answer. An effect
 * that keeps its key itself (a lead) is written on its first attempt only
 * under this condition, so that a retry of a refused or running request
 * never writes: it takes `run`'s path (409, 422 or the kept answer).
 * One primary-key probe; the table holds only what has no effect of its
 * own, so it stays small.
 */
export function unrecordedSql(sql: { scope: string; key: string }): string {
  return `not exists (select 1 from ${TABLE} r where r.api_key_id = ${sql.scope} and r.idempotency_key = ${sql.key})`;
}

interface RecordRow {
  fingerprint: string;
  started_at: Date;
  completed_at: Date | null;
  response_status: number | null;
  response_body: unknown;
}

export function createIdempotencyStore(db: Knex) {
  const record = (scope: string, key: string) => queryable(db)(TABLE).where({ api_key_id: scope, idempotency_key: key });
  return {
    /** Claims a key for a first attempt; false when a record already exists. */
    async claim(scope: string, key: string, fingerprint: string): Promise<boolean> {
      const inserted = await queryable(db)(TABLE)
        .insert({ api_key_id: scope, idempotency_key: key, fingerprint })
        .onConflict(['api_key_id', 'idempotency_key'])
        .ignore()
        .returning('api_key_id');
      return inserted.length === 1;
    },

    async find(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
      const row = (await record(scope, key)
        .select('fingerprint', 'started_at', 'completed_at', 'response_status', 'response_body')
        .first()) as RecordRow | undefined;
      if (!row) return undefined;
      return {
        fingerprint: row.fingerprint,
        startedAt: row.started_at,
        outcome: row.completed_at && row.response_status !== null ? { status: row.response_status, result: row.response_body } : undefined,
      };
    },

    /** Takes over an attempt abandoned mid-way (its process died); only one taker wins. */
    async takeOver(scope: string, key: string, startedAt: Date): Promise<boolean> {
      const updated = await record(scope, key)
        .where({ started_at: startedAt })
        .whereNull('completed_at')
        .update({ started_at: db.fn.now() });
      return updated === 1;
    },

    async complete(scope: string, key: string, outcome: StoredOutcome): Promise<void> {
      await record(scope, key).update({
        response_status: outcome.status,
        response_body: JSON.stringify(outcome.result),
        completed_at: db.fn.now(),
      });
    },

    /** Forgets an attempt that failed for a reason worth retrying. */
    async release(scope: string, key: string): Promise<void> {
      await record(scope, key).whereNull('completed_at').delete();
    },

    /** Deletes records older than `hours` (they are kept at least 24 hours), in bounded batches. */
    async deleteOlderThan(hours: number, batchSize = 1000): Promise<number> {
      return deleteInBatches(batchSize, () =>
        db(TABLE)
          .whereIn(
            ['api_key_id', 'idempotency_key'],
            db(TABLE).select('api_key_id', 'idempotency_key').where('started_at', '<', db.raw(`now() - (? * interval '1 hour')`, [hours])).limit(batchSize),
          )
          .delete(),
      );
    },
  };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;
