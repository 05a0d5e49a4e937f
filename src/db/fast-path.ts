import type { Knex } from 'knex';
import type pg from 'pg';

import { isDatabaseUnavailable, isPreparedStatementLost, PreparedStatementsLostError } from './errors.js';
import { refusalInTransaction } from './transaction.js';

/**
 * A statement of the fast path: SQL written once with `$n` placeholders, as
 * Postgres takes it, and the same statement in knex's `?` form for the
 * embedded database (rendered from the same builder, so no placeholder is
 * ever found by rewriting text).
 */
export interface Statement {
  /** Names the statement in logs and, when prepared statements are on, on each connection. */
  name: string;
  /** The SQL with `$1`, `$2`, ... */
  text: string;
  /** The SQL with knex's `?`, and for each `?` in order the 0-based index of its value. */
  knex: { sql: string; order: number[] };
}

/**
 * Defines a statement. `build` writes the SQL and calls `param(n)` where the
 * n-th value (1-based) goes; a value may be used more than once. The SQL
 * must hold no `?` of its own (knex would take it for a placeholder).
 */
export function defineStatement(name: string, build: (param: (position: number) => string) => string): Statement {
  if (build(() => '').includes('?')) throw new Error(`statement ${name}: the SQL holds a "?" (knex would read it as a placeholder)`);
  const text = build((position) => `$${position}`);
  // knex's form: each place a value goes, in the order it appears in the SQL (a marker no SQL can hold, then `?`).
  const order: number[] = [];
  const sql = build((position) => `\u0000${position}\u0000`).replace(/\u0000(\d+)\u0000/g, (_marker, position: string) => {
    order.push(Number(position) - 1);
    return '?';
  });
  return { name, text, knex: { sql, order } };
}

/** One statement as it was sent: for tests and tracing. */
export interface SentStatement {
  name: string;
  text: string;
  values: readonly unknown[];
}

/**
 * The one way around knex: the Leads API and the key verifier send one
 * statement per request, and knex's query building and bookkeeping were a
 * measurable share of it. Each statement takes a connection of its own, so
 * it is refused inside `inTransaction` (it would not see the transaction's
 * writes, and on the embedded database, whose one connection the
 * transaction holds, it would wait for ever).
 */
export interface FastPath {
  run<Row>(statement: Statement, values: readonly unknown[]): Promise<Row[]>;
  /** Hears of every statement sent (tests count them); returns the function that stops it. */
  onStatement(listener: (sent: SentStatement) => void): () => void;
}

function refuseInTransaction(statement: Statement): void {
  const refusal = refusalInTransaction(`statement ${statement.name}`);
  if (refusal) throw refusal;
}

function listeners() {
  const all = new Set<(sent: SentStatement) => void>();
  return {
    notify(statement: Statement, values: readonly unknown[]): void {
      if (all.size === 0) return;
      for (const listener of all) listener({ name: statement.name, text: statement.text, values });
    },
    add(listener: (sent: SentStatement) => void): () => void {
      all.add(listener);
      return () => all.delete(listener);
    },
  };
}

/**
 * The fast path on Postgres: straight to pg's pool, with callbacks (one
 * promise in all; each promise costs more while an AsyncLocalStorage is in
 * use, and the provider's and `inTransaction`'s are). Not `pool.query`: that
 * drops the connection on any error, even a constraint the statement broke
 * (a 409), where the connection is fine; a connection the error says is
 * broken is dropped when it is handed back.
 *
 * `prepared`: each connection prepares a statement once by its name and
 * plans it once. Off, statements go unnamed (parsed and planned every time),
 * which is what a transaction-pooling PgBouncer needs: its server
 * connections change under a client, so a name prepared on one is unknown
 * (or already taken) on the next.
 */
export function createPostgresFastPath(pool: pg.Pool, options: { prepared: boolean }): FastPath {
  const heard = listeners();
  return {
    run<Row>(statement: Statement, values: readonly unknown[]): Promise<Row[]> {
      refuseInTransaction(statement);
      heard.notify(statement, values);
      const query = options.prepared ? { name: statement.name, text: statement.text, values: values as unknown[] } : { text: statement.text, values: values as unknown[] };
      return new Promise((resolve, reject) => {
        pool.connect((connectError, connection, release) => {
          if (connectError || !connection) {
            reject(connectError ?? new Error('no database connection'));
            return;
          }
          connection.query(query, (queryError: Error | null, result: pg.QueryResult) => {
            release(queryError && isDatabaseUnavailable(queryError) ? queryError : undefined);
            if (queryError) reject(isPreparedStatementLost(queryError) ? new PreparedStatementsLostError(statement.name, queryError) : queryError);
            else resolve(result.rows as Row[]);
          });
        });
      });
    },
    onStatement: heard.add,
  };
}

/** The fast path through knex (the embedded database, whose one connection knex's pool hands out in turn). */
export function createKnexFastPath(db: Knex): FastPath {
  const heard = listeners();
  return {
    async run<Row>(statement: Statement, values: readonly unknown[]): Promise<Row[]> {
      refuseInTransaction(statement);
      heard.notify(statement, values);
      const bindings = statement.knex.order.map((index) => values[index] as Knex.Value);
      const result = (await db.raw(statement.knex.sql, bindings)) as { rows: Row[] };
      return result.rows;
    },
    onStatement: heard.add,
  };
}
