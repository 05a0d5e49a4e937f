import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';

/** A response kept for replay. */
export interface StoredResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export interface IdempotencyRecord {
  fingerprint: string;
  startedAt: Date;
  response: StoredResponse | undefined;
}

const TABLE = 'idempotency_records';

/**
 * An insert of a completed record, for a statement that writes its effect and
 * the effect's record at once (as a data-modifying CTE): the first attempt of
 * a key then costs one round trip, and the two commit together. The SQL
 * expressions give the scope (the API key's id) and the stored response;
 * `from` names the rows they are computed from, so no row there, no record.
 * Bindings: the Idempotency-Key, then the fingerprint. A key already claimed
 * fails the whole statement on the primary key; the caller then takes the
 * `run` path, which replays, refuses (422) or waits (409) as usual.
 */
export function insertCompletedRecordSql(sql: { scope: string; status: number; body: string; headers: string; from: string }): string {
  return `insert into ${TABLE} (api_key_id, idempotency_key, fingerprint, response_status, response_body, response_headers, completed_at)
  select ${sql.scope}, ?, ?, ${sql.status}, ${sql.body}, ${sql.headers}, now()
  from ${sql.from}`;
}

interface RecordRow {
  fingerprint: string;
  started_at: Date;
  completed_at: Date | null;
  response_status: number | null;
  response_body: unknown;
  response_headers: Record<string, string> | null;
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
        .select('fingerprint', 'started_at', 'completed_at', 'response_status', 'response_body', 'response_headers')
        .first()) as RecordRow | undefined;
      if (!row) return undefined;
      return {
        fingerprint: row.fingerprint,
        startedAt: row.started_at,
        response:
          row.completed_at && row.response_status !== null
            ? { status: row.response_status, body: row.response_body, headers: row.response_headers ?? {} }
            : undefined,
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

    async complete(scope: string, key: string, response: StoredResponse): Promise<void> {
      await record(scope, key).update({
        response_status: response.status,
        response_body: JSON.stringify(response.body),
        response_headers: JSON.stringify(response.headers),
        completed_at: db.fn.now(),
      });
    },

    /** Forgets an attempt that failed for a reason worth retrying. */
    async release(scope: string, key: string): Promise<void> {
      await record(scope, key).whereNull('completed_at').delete();
    },

    /** Deletes records older than `hours` (they are kept at least 24 hours). */
    async deleteOlderThan(hours: number): Promise<number> {
      return db(TABLE).where('started_at', '<', db.raw(`now() - (? * interval '1 hour')`, [hours])).delete();
    },
  };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;
