import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { eventually } from './eventually.js';
import { freePort } from './process.js';

/**
 * The one PgBouncer launcher: the pooler tests (`test/pooler.test.ts`), the
 * suite run through a pooler in CI (`with-pgbouncer.ts`) and the failover
 * drill (`bench/failover-cluster.ts`) all start theirs here.
 */

export const PGBOUNCER_PATH = process.env.PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';
const AS_ROOT = process.getuid?.() === 0;

export interface Target {
  host: string;
  port: number;
}

/** The Postgres a URL names, as a target to forward to. */
export function targetOf(url: string): Target {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 5432) };
}

export interface PgBouncerOptions {
  /** The Postgres every database is forwarded to. */
  target: Target;
  mode: 'transaction' | 'session';
  /** Server connections per database and user: fewer than the server's pool, so clients share them. */
  poolSize?: number;
  /** Trusted users (no passwords: trust authentication on 127.0.0.1). */
  users?: string[];
  /** Forward only this database (as this user), rather than every database (`*`). */
  database?: { name: string; user: string };
  /**
   * A query waiting for a server connection fails after this many seconds
   * (PgBouncer's default is 120, as long as ava's inactivity timeout: a
   * test stuck there would be killed without saying where).
   */
  queryWaitTimeoutS?: number;
  /** After a failed server login PgBouncer tries again this much later (its default: 15 s). */
  serverLoginRetryS?: number;
}

export interface PgBouncer {
  port: number;
  /** The folder of its configuration and log (`pgbouncer.log`). */
  dir: string;
  /** `url` with its host and port replaced by the pooler's (the same database and user). */
  through(url: string): string;
  /** Points the pooler at another Postgres and reloads it (SIGHUP): clients keep their connections. */
  repoint(target: Target): Promise<void>;
  /** Stops it (SIGINT, then SIGKILL after 5 s) and removes its folder. Safe to call more than once. */
  close(): Promise<void>;
}

function config(options: PgBouncerOptions & { port: number; dir: string }): string {
  const { host, port } = options.target;
  const database = options.database ? `${options.database.name} = host=${host} port=${port} dbname=${options.database.name} user=${options.database.user}` : `* = host=${host} port=${port}`;
  return [
    '[databases]',
    database,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${options.port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${path.join(options.dir, 'users.txt')}`,
    `pool_mode = ${options.mode}`,
    `default_pool_size = ${options.poolSize ?? 4}`,
    'max_client_conn = 2000',
    // Transaction mode never runs it; session mode keeps PgBouncer's DISCARD ALL (a client's prepared statements end with it).
    ...(options.mode === 'transaction' ? ['server_reset_query ='] : []),
    'ignore_startup_parameters = extra_float_digits,options,statement_timeout,application_name',
    `query_wait_timeout = ${options.queryWaitTimeoutS ?? 30}`,
    `server_login_retry = ${options.serverLoginRetryS ?? 15}`,
    `logfile = ${path.join(options.dir, 'pgbouncer.log')}`,
    '',
  ].join('\n');
}

/** The `postgres` OS user, which runs PgBouncer (and the drill's Postgres) when we are root; undefined when there is none. */
export function postgresUser(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

/**
 * Starts a PgBouncer (Debian 12's 1.18 has no `max_prepared_statements`:
 * the pooler the README's recipe is tried against) on a free port. Root
 * cannot run it: it runs as the `postgres` user then. Throws, saying what
 * to install, when it is missing; resolves once it answers a query.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER_PATH)) throw new Error(`PgBouncer is needed at ${PGBOUNCER_PATH} (apt-get install pgbouncer, or set PGBOUNCER_PATH)`);
  const user = AS_ROOT ? postgresUser() : undefined;
  if (AS_ROOT && !user) throw new Error('running as root, PgBouncer needs a "postgres" OS user to run as');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'octiv-pgbouncer-'));
  let settings = { ...options, port: await freePort(), dir };
  const ini = path.join(dir, 'pgbouncer.ini');
  const users = path.join(dir, 'users.txt');
  const own = (...files: string[]) => user && files.forEach((file) => chownSync(file, user.uid, user.gid));
  await writeFile(users, (options.users ?? ['postgres']).map((name) => `"${name}" ""\n`).join(''));
  await writeFile(ini, config(settings));
  own(dir, ini, users);

  const child: ChildProcess = spawn(PGBOUNCER_PATH, [...(user ? ['-u', 'postgres'] : []), ini], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })());

  const database = options.database?.name ?? 'postgres';
  const dbUser = options.database?.user ?? 'postgres';
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pgbouncer exited (${child.exitCode ?? child.signalCode}): ${stderr}`);
        const client = new pg.Client({ connectionString: `postgres://${dbUser}@127.0.0.1:${settings.port}/${database}`, connectionTimeoutMillis: 5_000 });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('select 1');
          return true;
        } catch {
          return false;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { what: 'PgBouncer to accept connections' },
    );
  } catch (error) {
    await close();
    throw error;
  }
  return {
    port: settings.port,
    dir,
    through(url) {
      const next = new URL(url);
      next.host = `127.0.0.1:${settings.port}`;
      return next.toString();
    },
    async repoint(target) {
      settings = { ...settings, target };
      await writeFile(ini, config(settings));
      child.kill('SIGHUP');
    },
    close,
  };
}
