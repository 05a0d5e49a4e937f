import { rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createKnexFastPath, createPostgresFastPath, type FastPath } from './fast-path.js';

/** How long closing waits for connections in use to be handed back (each query's own work, a webhook attempt's last write). */
const CLOSE_WAIT_MS = 15_000;

// Return bigint counts and numeric values as strings is pg's default; we only
// use int/bigint for counts, which fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

/**
 * An open database: knex for the stores' queries, the fast path for the hot
 * statements (see fast-path.ts), and what to close. One object, so nothing
 * hangs off the knex instance.
 */
/** Runs SQL written for Postgres itself; see `Database.sql`. */
export type SqlRunner = (text: string, values?: unknown[], name?: string) => Promise<{ rows: unknown[] }>;

export interface Database {
  kind: 'postgres' | 'embedded';
  knex: Knex;
  fast: FastPath;
  /**
   * Runs SQL written for Postgres itself (`$n` placeholders; several
   * statements when there are no values) on a connection of its own: for
   * libraries that bring their own SQL (the job queue). Never inside a
   * transaction of ours. `name`: the statement is prepared once per
   * connection under that name, when prepared statements are on (see
   * createPostgresFastPath); otherwise it goes unnamed.
   */
  sql: SqlRunner;
  /** The pool's figures for metrics: connections allowed, in use, idle, and requests waiting for one. */
  poolFigures(): { size: number; inUse: number; idle: number; waiting: number };
  /** Closes the pool (and, for the embedded database, hands its folder to the next process). */
  close(): Promise<void>;
}

export interface DatabaseOptions {
  logger?: Logger | undefined;
}

/**
 * Opens the database named by the configuration: Postgres over `pg` when
 * DATABASE_URL is set, otherwise an embedded Postgres (PGlite) kept in
 * DATA_DIR. Both speak the same SQL, so one set of migrations serves both.
 */
export async function createDatabase(database: Config['database'], options: DatabaseOptions = {}): Promise<Database> {
  const { logger } = options;
  // knex prints pool and driver trouble to the console unless given a logger.
  const log = logger && {
    warn: (message: unknown) => logger.warn({ knex: String(message) }, 'database warning'),
    error: (message: unknown) => logger.error({ knex: String(message) }, 'database error'),
    deprecate: (message: unknown) => logger.warn({ knex: String(message) }, 'database deprecation'),
    debug: (message: unknown) => logger.debug({ knex: String(message) }, 'database debug'),
  };
  if (database.kind === 'postgres') {
    const pool = createPostgresPool(database, logger);
    const knex = knexFactory({ client: 'pg', connectionPool: pool, ...(log ? { log } : {}) });
    const prepared = database.preparedStatements ?? true;
    return {
      kind: 'postgres',
      knex,
      fast: createPostgresFastPath(pool, { prepared }),
      sql: (text, values, name) => pool.query(prepared && name ? { name, text, values: values ?? [] } : { text, values: values ?? [] }),
      poolFigures: () => postgresPoolFigures(pool),
      // knex leaves a pool it was given open: it is closed here, before knex lets go of it. The other order leaks:
      // a knex query still running when knex.destroy() dropped the pool could not hand its connection back, and
      // pool.end() waited for it forever (a test's close hung so, after a webhook attempt began as it stopped).
      // Bounded: a connection that never comes back (a query on a host that vanished) is left to the process's exit.
      close: once(async () => {
        try {
          const gaveUp = await Promise.race([pool.end().then(() => false), delay(CLOSE_WAIT_MS, true, { ref: false })]);
          if (gaveUp) logger?.warn({ inUse: postgresPoolFigures(pool).inUse, waitedMs: CLOSE_WAIT_MS }, 'closing the database: connections still in use were not handed back; left to the process exit');
        } finally {
          await knex.destroy();
        }
      }),
    };
  }
  // Loaded only for the embedded database: PGlite and its dialect cost a Postgres deployment memory for nothing.
  const { openEmbedded, EmbeddedPostgresClient } = await import('./embedded.js');
  const dataDir = path.resolve(database.dataDir);
  await mkdir(dataDir, { recursive: true });
  const unlock = await lockDataDir(dataDir);
  const pglite = await openEmbedded(dataDir).catch((error: unknown) => {
    unlock();
    throw error;
  });
  const knex = knexFactory({
    client: EmbeddedPostgresClient,
    dialect: 'postgres',
    connection: { pglite },
    acquireConnectionTimeout: 60_000,
    ...(log ? { log } : {}),
  } as unknown as Knex.Config);
  const client = knex.client as InstanceType<typeof EmbeddedPostgresClient>;
  const tarn = (knex.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number; max: number } }).pool;
  return {
    kind: 'embedded',
    knex,
    fast: createKnexFastPath(knex),
    sql: (text, values) => client.exclusive(text, values),
    poolFigures: () => (tarn ? { size: tarn.max, inUse: tarn.numUsed(), idle: tarn.numFree(), waiting: tarn.numPendingAcquires() } : { size: 1, inUse: 0, idle: 0, waiting: 0 }),
    // Closing the database hands the folder to the next process (the command
    // line, a restarted server) without waiting for this one to exit.
    close: once(async () => {
      try {
        await knex.destroy();
      } finally {
        unlock();
      }
    }),
  };
}

/** `work` once, however often it is called (each call gets the first call's promise). */
function once(work: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= work());
}

/** Connections allowed, in use, idle, and requests waiting for one (see `Database.poolFigures`). */
function postgresPoolFigures(pool: pg.Pool): ReturnType<Database['poolFigures']> {
  return { size: pool.options.max, inUse: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount };
}

/**
 * The connections to Postgres: pg's own pool, which knex (3.3 and later)
 * takes as `connectionPool`. Taking a connection from it costs a few
 * promises; knex's own pool (tarn) took some twenty-five, and a timer,
 * every time, and the Leads API takes one per request. Waiting for a
 * connection gives up after 10 s (a 503, like a refused connection).
 *
 * A connection that fails while a request holds it (between two statements
 * of a transaction, say) is logged here and dropped by the pool when it is
 * handed back; one that fails while idle is dropped at once. Neither may
 * reach the process as an unhandled 'error' event.
 */
function createPostgresPool(database: Extract<Config['database'], { kind: 'postgres' }>, logger?: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: database.url,
    application_name: 'octiv-system-integrations',
    max: database.poolMax,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  const failed = (error: Error) => logger?.warn({ err: error }, 'a database connection failed; it is dropped from the pool');
  pool.on('connect', (client) => client.on('error', failed));
  pool.on('error', () => undefined); // the 'connect' listener above has logged it
  return pool;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The embedded database is for one process: two processes writing the same
 * files would corrupt them. A lock file holds the owner's pid and is removed
 * when the database is closed or the process exits; a lock left by a process
 * that is gone is taken over. Returns the function that releases it.
 */
async function lockDataDir(dataDir: string): Promise<() => void> {
  const lockPath = path.join(dataDir, 'octiv.lock');
  try {
    await writeFile(lockPath, String(process.pid), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (owner && owner !== process.pid && isRunning(owner)) {
      throw new Error(
        `The embedded database in ${dataDir} is in use by process ${owner}. Stop that process, use another DATA_DIR, or set DATABASE_URL to share a Postgres between processes.`,
      );
    }
    await writeFile(lockPath, String(process.pid));
  }
  let held = true;
  const unlock = () => {
    if (!held) return;
    held = false;
    process.off('exit', unlock);
    rmSync(lockPath, { force: true });
  };
  process.once('exit', unlock);
  return unlock;
}

/** True while the database answers a trivial query within the time limit. */
export async function databaseIsReady(db: Knex, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.raw('select 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('database readiness check timed out')), timeoutMs);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
