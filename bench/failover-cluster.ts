import { execFile } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import pg from 'pg';

import { PGBOUNCER_PATH, postgresUser, startPgBouncer, type PgBouncer } from '../test/helpers/pgbouncer.js';

/**
 * A Postgres primary with a synchronous standby and a PgBouncer in front,
 * built from the binaries on this machine in a temporary folder, for the
 * failover drill (`drill-failover.ts`). Every process runs as the `postgres`
 * OS user (Postgres and PgBouncer refuse root) and listens on 127.0.0.1 only,
 * with trust authentication: nothing here is for production but the
 * replication settings, which are the recipe in docs/operations.md.
 */

const run = promisify(execFile);

/** Where the Postgres 15 binaries are (Debian's path; DRILL_PG_BIN for another). */
export const PG_BIN = process.env.DRILL_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const DATABASE = 'octiv';
const STANDBY_NAME = 'drill_standby';
const AS_ROOT = process.getuid?.() === 0;

export interface ClusterOptions {
  /** The primary's `synchronous_commit`: `remote_apply` (the recipe) or `local` (an asynchronous standby, to see what it loses). */
  synchronousCommit: 'remote_apply' | 'local';
  /** PgBouncer's `pool_mode`. */
  poolMode: 'transaction' | 'session';
}

export interface Cluster {
  /** The temporary folder: data directories, configuration and logs. */
  dir: string;
  primaryPort: number;
  standbyPort: number;
  /** The pooler's port, once `start()` has started it. */
  readonly poolerPort: number;
  /** The application's database through the pooler (what the server is given), once `start()` has started it. */
  readonly poolerUrl: string;
  /** The application's database on one Postgres directly, bypassing the pooler. */
  directUrl(port: number): string;
  /** Builds and starts the primary, the standby (synchronous once attached) and the pooler in front of the primary. */
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate` on the primary: its processes are killed, as when its host dies. */
  stopPrimary(): Promise<void>;
  /** `pg_ctl promote` on the standby; resolves once it accepts writes. */
  promoteStandby(): Promise<void>;
  /** Points the pooler's database at another Postgres: the configuration rewritten, then reloaded (SIGHUP). */
  repointPooler(port: number): Promise<void>;
  /** Stops everything that runs and removes the folder. Safe to call more than once, and on a cluster half built. */
  close(): Promise<void>;
}

/** What the drill needs and this machine lacks (an empty list when it can run). */
export function missingTools(): string[] {
  const tools = [...['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'].map((name) => path.join(PG_BIN, name)), PGBOUNCER_PATH, ...(AS_ROOT ? ['/usr/sbin/runuser'] : [])];
  const missing = tools.filter((tool) => {
    try {
      accessSync(tool, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (AS_ROOT && !postgresUser()) missing.push('an OS user named postgres (to run Postgres and PgBouncer as)');
  return missing;
}

/** Runs a Postgres binary as the postgres user (directly when we are not root). */
async function asPostgres(binary: string, args: string[]): Promise<string> {
  const [command, ...rest] = AS_ROOT ? ['/usr/sbin/runuser', '-u', 'postgres', '--', path.join(PG_BIN, binary), ...args] : [path.join(PG_BIN, binary), ...args];
  try {
    const { stdout } = await run(command!, rest, { timeout: 60_000 });
    return stdout;
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`${binary} ${args.join(' ')} failed: ${stderr?.trim() || message}`, { cause: error });
  }
}

/** Ports nothing listens on, drawn at random from 20000-39999 (below the kernel's ephemeral range). */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (ports.includes(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) ports.push(port);
  }
  return ports;
}

/** Settings both servers start from (the standby is a copy of the primary's folder, with its own port). */
function primaryConf(dir: string, port: number, options: ClusterOptions): string {
  return [
    `listen_addresses = '127.0.0.1'`,
    `port = ${port}`,
    `unix_socket_directories = '${dir}'`,
    `max_connections = 60`,
    `shared_buffers = 32MB`,
    `wal_level = replica`,
    `max_wal_senders = 4`,
    // The recipe: a commit is answered only once the standby has applied it, so a promoted standby has every
    // lead answered 201. synchronous_standby_names is set after the standby is attached (see buildCluster).
    `synchronous_commit = ${options.synchronousCommit}`,
    `hot_standby = on`,
    `log_line_prefix = '%m [%p] '`,
    '',
  ].join('\n');
}

const HBA = ['local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust', ''].join('\n');

/** Statements one after the other on a connection of its own; the rows of the last. */
async function query<Row>(url: string, ...statements: string[]): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined); // a connection lost while idle: the next statement fails and says so
  await client.connect();
  try {
    let rows: Row[] = [];
    for (const statement of statements) rows = (await client.query(statement)).rows as Row[];
    return rows;
  } finally {
    await client.end();
  }
}

/** Waits until the primary reports the standby as its synchronous standby. */
async function standbyInSync(url: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const rows = await query<{ sync_state: string }>(url, `select sync_state from pg_stat_replication where application_name = '${STANDBY_NAME}'`);
    if (rows[0]?.sync_state === 'sync') return;
    await sleep(100);
  }
  throw new Error('the standby did not become synchronous in 10 s');
}

/**
 * A cluster to build in a new temporary folder on free ports: nothing runs
 * until `start()`. `close()` undoes whatever was done, also after a `start()`
 * that failed half way.
 */
export async function createCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'octiv-drill-'));
  const primaryDir = path.join(dir, 'primary');
  const standbyDir = path.join(dir, 'standby');
  const user = postgresUser();
  const own = (file: string) => AS_ROOT && user && chownSync(file, user.uid, user.gid);
  own(dir);
  const [primaryPort, standbyPort] = (await freePorts(2)) as [number, number];
  const directUrl = (port: number, database = DATABASE) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let pooler: PgBouncer | undefined;
  const started = () => {
    if (!pooler) throw new Error('the cluster has not been started');
    return pooler;
  };
  const running = new Set<string>();

  const pgCtl = (dataDir: string, ...args: string[]) => asPostgres('pg_ctl', ['-D', dataDir, ...args]);
  const startPostgres = async (dataDir: string, log: string) => {
    running.add(dataDir);
    await pgCtl(dataDir, '-l', path.join(dir, log), '-w', '-t', '30', 'start');
  };
  const stopPostgres = async (dataDir: string) => {
    if (!running.delete(dataDir)) return;
    await pgCtl(dataDir, '-m', 'immediate', 'stop');
  };

  async function start(): Promise<void> {
    // The primary, its application database, then the standby copied from it.
    await asPostgres('initdb', ['-D', primaryDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    writeFileSync(path.join(primaryDir, 'postgresql.conf'), primaryConf(dir, primaryPort, options), { flag: 'a' });
    writeFileSync(path.join(primaryDir, 'pg_hba.conf'), HBA);
    await startPostgres(primaryDir, 'primary.log');
    await query(directUrl(primaryPort, 'postgres'), `create database ${DATABASE}`);
    await asPostgres('pg_basebackup', ['-d', `host=127.0.0.1 port=${primaryPort} user=postgres application_name=${STANDBY_NAME}`, '-D', standbyDir, '-R', '-X', 'stream', '-c', 'fast']);
    writeFileSync(path.join(standbyDir, 'postgresql.conf'), `port = ${standbyPort}\n`, { flag: 'a' });
    await startPostgres(standbyDir, 'standby.log');
    // Only now does the primary wait for its standby: set before, every commit would wait for a standby not yet there.
    // ALTER SYSTEM writes the primary's own postgresql.auto.conf: the standby, once promoted, waits for nobody.
    await query(directUrl(primaryPort, 'postgres'), `alter system set synchronous_standby_names = '${STANDBY_NAME}'`, 'select pg_reload_conf()');
    await standbyInSync(directUrl(primaryPort, 'postgres'));

    pooler = await startPgBouncer({
      target: { host: '127.0.0.1', port: primaryPort },
      database: { name: DATABASE, user: 'postgres' },
      mode: options.poolMode,
      poolSize: 20,
      // After a failed connection PgBouncer tries the server again only this much later (default 15 s: the
      // drill's first 201 came 13 s after promotion, and requests hung in PgBouncer for over 10 s meanwhile).
      serverLoginRetryS: 1,
      // A query waiting for a server connection fails after this (default 120 s): the client gets 503, not a hang.
      queryWaitTimeoutS: 5,
    });
  }

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await pooler?.close();
      for (const dataDir of [...running]) await stopPostgres(dataDir).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })());

  return {
    dir,
    primaryPort,
    standbyPort,
    get poolerPort() {
      return started().port;
    },
    get poolerUrl() {
      return directUrl(started().port);
    },
    directUrl: (port) => directUrl(port),
    start,
    stopPrimary: () => stopPostgres(primaryDir),
    promoteStandby: async () => {
      await pgCtl(standbyDir, '-w', '-t', '30', 'promote');
    },
    repointPooler: (port) => started().repoint({ host: '127.0.0.1', port }),
    close,
  };
}
