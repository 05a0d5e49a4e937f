import type { Knex } from 'knex';
import pg from 'pg';

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
 * Runs a hot statement on a connection of knex's pool (its size, timeouts and
 * health checks still apply) without knex's per-query work: on the Leads API,
 * a request is one statement, and knex's query building and bookkeeping were
 * a measurable share of it. On `pg` the statement is named, so each
 * connection plans it once; the embedded database takes the text.
 *
 * It takes its own connection: never call it inside `inTransaction`. Query
 * listeners on the knex instance (tracing, tests) still see it.
 */
export async function runStatement<Row>(db: Knex, prepared: Statement, values: unknown[]): Promise<Row[]> {
  const client = db.client as unknown as PooledClient;
  const connection = await client.acquireConnection();
  try {
    db.emit('query', { method: 'raw', sql: prepared.text, bindings: values });
    const result =
      connection instanceof pg.Client
        ? await connection.query({ name: prepared.name, text: prepared.text, values })
        : await connection.query(prepared.text, values);
    return result.rows as Row[];
  } finally {
    await client.releaseConnection(connection);
  }
}
