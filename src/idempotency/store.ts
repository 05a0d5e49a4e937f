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
 * SQL that records an effect's outcome in the same statement as the effect
 * (a data-modifying CTE): the effect and its record commit together, in one
 * round trip. Every part is a SQL expression over the rows `from` names
 * (and `where` filters), so no row there, no record: the API key the record
 * is scoped to (`scope`), the Idempotency-Key (`key`), the body's
 * fingerprint (`fingerprint`) and the result kept for replays (`result`).
 *
 * - `insert`: the first attempt of a key writes a completed record. A key
 *   used before fails the whole statement on the primary key; the caller
 *   then takes the `run` path, which replays, refuses (422) or waits (409).
 * - `complete`: completes the record `run` claimed (`fingerprint` unused).
 */
export function recordOutcomeSql(sql: {
  mode: 'insert' | 'complete';
  scope: string;
  key: string;
  fingerprint: string;
  status: number;
  result: string;
  from: string;
  where?: string;
}): string {
  if (sql.mode === 'insert') {
    return `insert into ${TABLE} (api_key_id, idempotency_key, fingerprint, response_status, response_body, completed_at)
  select ${sql.scope}, ${sql.key}, ${sql.fingerprint}, ${sql.status}, ${sql.result}, now()
  from ${sql.from}${sql.where ? `\n  where ${sql.where}` : ''}`;
  }
  return `update ${TABLE} set response_status = ${sql.status}, response_body = ${sql.result}, completed_at = now()
  from ${sql.from}
  where ${TABLE}.api_key_id = ${sql.scope} and ${TABLE}.idempotency_key = ${sql.key}${sql.where ? ` and ${sql.where}` : ''}`;
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
