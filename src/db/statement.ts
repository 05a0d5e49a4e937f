import type { Knex } from 'knex';
import pg from 'pg';

import { isDatabaseUnavailable } from '../http/database-errors.js';
import { postgresPool } from './knex.js';

/** A hot statement: written with knex's `?` placeholders, sent with `$n` ones. */
export interface Statement {
  name: string;
  text: string;
}

/** Prepares a statement written with `?` placeholders (none may be quoted in the SQL). */
export function statement(name: string, sql: string): Statement {
  let position = 0;
  return { name, text: sql.replace(/\?/g, () => `$${(position += 1)}`) };
}

interface DriverConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

interface PooledClient {
  acquireConnection(): Promise<DriverConnection>;
  releaseConnection(connection: DriverConnection): Promise<void>;
}

/**
 * Runs a hot statement on a connection of the database's pool (its size and
 * timeouts still apply) without knex's per-query work: on the Leads API, a
 * request is one statement, and knex's query building and bookkeeping were a
 * measurable share of it. On Postgres the statement is named, so each
 * connection plans it once, and it goes straight to pg's pool with
 * callbacks: one promise in all, where each promise costs more while any
 * AsyncLocalStorage is in use (the provider's and `inTransaction`'s are).
 * The embedded database takes the text through knex's connection.
 *
 * It takes its own connection: never call it inside `inTransaction`. Query
 * listeners on the knex instance (tracing, tests) still see it.
 */
export async function runStatement<Row>(db: Knex, prepared: Statement, values: unknown[]): Promise<Row[]> {
  db.emit('query', { method: 'raw', sql: prepared.text, bindings: values });
  const named = { name: prepared.name, text: prepared.text, values };
  const pool = postgresPool(db);
  if (pool) return onPool<Row>(pool, named);
  // A knex made without `createDatabase` (the scale bench's), or the embedded database.
  const client = db.client as unknown as PooledClient;
  const connection = await client.acquireConnection();
  try {
    const result = connection instanceof pg.Client ? await connection.query(named) : await connection.query(prepared.text, values);
    return result.rows as Row[];
  } finally {
    // Handed back at once (knex's release does nothing asynchronous): no promise awaited for it.
    void client.releaseConnection(connection);
  }
}

/**
 * One query on a connection of pg's pool, handed back at once. Not
 * `pool.query`: that drops the connection on any error, even a constraint
 * the statement broke (a 409), where the connection is fine; the pool drops
 * a broken one itself when it is handed back.
 */
function onPool<Row>(pool: pg.Pool, query: { name: string; text: string; values: unknown[] }): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    pool.connect((connectError, connection, release) => {
      if (connectError || !connection) {
        reject(connectError ?? new Error('no database connection'));
        return;
      }
      connection.query(query, (queryError: Error | null, result: pg.QueryResult) => {
        // A connection the error says is broken is not handed to the next caller.
        release(queryError && isDatabaseUnavailable(queryError) ? queryError : undefined);
        if (queryError) reject(queryError);
        else resolve(result.rows as Row[]);
      });
    });
  });
}
