import pg from 'pg';

import { directUrl } from './database.js';
import { eventually } from './eventually.js';

/** A server's statement waiting inside Postgres for the held lock. */
export interface Waiter {
  pid: number;
  query: string;
}

export interface TableLock {
  /** Resolves once at least `count` statements of others wait for the lock (and so are provably inside the database). */
  waiters(count: number): Promise<Waiter[]>;
  /** Ends every session on the database but the lock's own, as a database that goes away would (their open statements roll back). */
  endOtherSessions(): Promise<void>;
  /** Resolves once none of these sessions is left (each finished, or found its client gone, and ended). */
  ended(pids: number[]): Promise<void>;
  /** Lets the waiting statements go on. */
  release(): Promise<void>;
  /** Releases (if still held) and closes the lock's connections. */
  close(): Promise<void>;
}

/**
 * Holds `lock table <table> in exclusive mode` in an open transaction on a
 * connection of its own (straight to Postgres, never through a test proxy
 * or a pooler, whose server connections change under a client),
 * so that a server's writes to that table wait inside the database until
 * `release`, while its reads go on. A second connection watches
 * `pg_stat_activity`: the signal that a request is in flight is Postgres's
 * own, not a guess at how long it takes to get there.
 */
export async function holdTableLock(databaseUrl: string, table: string): Promise<TableLock> {
  const direct = directUrl(databaseUrl);
  const holder = new pg.Client({ connectionString: direct });
  const watcher = new pg.Client({ connectionString: direct });
  await Promise.all([holder.connect(), watcher.connect()]);
  const ours: number[] = [];
  for (const client of [holder, watcher]) ours.push((await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);
  await holder.query('begin');
  await holder.query(`lock table ${pg.escapeIdentifier(table)} in exclusive mode`);
  let held = true;

  const release = async () => {
    if (!held) return;
    held = false;
    await holder.query('rollback');
  };
  return {
    waiters: (count) =>
      eventually(
        async () => {
          const { rows } = await watcher.query<Waiter>(
            `select pid, query from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> all($1::int[])`,
            [ours],
          );
          return rows.length >= count && rows;
        },
        { what: `${count} statements waiting for the lock on ${table}` },
      ),
    async endOtherSessions() {
      await watcher.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> all($1::int[])', [ours]);
    },
    async ended(pids) {
      await eventually(
        async () => (await watcher.query('select 1 from pg_stat_activity where pid = any($1::int[])', [pids])).rowCount === 0,
        { what: `sessions ${pids.join(', ')} to end` },
      );
    },
    release,
    async close() {
      await release().catch(() => undefined);
      await Promise.all([holder.end(), watcher.end()]);
    },
  };
}
