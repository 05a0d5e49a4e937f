import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { eventually } from './eventually.js';
import { freePort } from './process.js';

export const PGBOUNCER_PATH = process.env.PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';

export interface PgBouncer {
  port: number;
  /** `url` with its host and port replaced by the pooler's (the same database and user). */
  through(url: string): string;
  /** Points the pooler at another Postgres (host:port) and reloads it: clients keep their connections. */
  repoint(target: { host: string; port: number }): Promise<void>;
  close(): Promise<void>;
}

const config = (options: { port: number; dir: string; mode: 'transaction' | 'session'; poolSize: number; target: { host: string; port: number } }) => `
[databases]
* = host=${options.target.host} port=${options.target.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${options.port}
unix_socket_dir =
auth_type = trust
auth_file = ${path.join(options.dir, 'users.txt')}
pool_mode = ${options.mode}
default_pool_size = ${options.poolSize}
max_client_conn = 2000
server_reset_query =
ignore_startup_parameters = extra_float_digits,options,statement_timeout,application_name
logfile = ${path.join(options.dir, 'pgbouncer.log')}
`;

/**
 * Starts a PgBouncer (Debian 12's 1.18 has no `max_prepared_statements`:
 * the pooler the README's recipe is tried against) in front of the Postgres
 * at `target`, trusting `users`. Root cannot run it: it runs as the
 * `postgres` user then. Throws, saying what to install, when it is missing.
 */
export async function startPgBouncer(options: {
  target: { host: string; port: number };
  mode: 'transaction' | 'session';
  /** Server connections per database and user: fewer than the server's pool, so clients share them. */
  poolSize?: number;
  users?: string[];
}): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER_PATH)) throw new Error(`these tests need PgBouncer at ${PGBOUNCER_PATH} (apt-get install pgbouncer, or set PGBOUNCER_PATH)`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'octiv-pgbouncer-'));
  const port = await freePort();
  const settings = { port, dir, mode: options.mode, poolSize: options.poolSize ?? 4, target: options.target };
  const ini = path.join(dir, 'pgbouncer.ini');
  await writeFile(path.join(dir, 'users.txt'), (options.users ?? ['postgres']).map((user) => `"${user}" ""\n`).join(''));
  await writeFile(ini, config(settings));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = await postgresUser();
    for (const file of [dir, ini, path.join(dir, 'users.txt')]) chownSync(file, uid, gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER_PATH, [...(asRoot ? ['-u', 'postgres'] : []), ini], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}): ${stderr}`);
        const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
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
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    through(url) {
      const next = new URL(url);
      next.host = `127.0.0.1:${port}`;
      return next.toString();
    },
    async repoint(target) {
      settings.target = target;
      await writeFile(ini, config(settings));
      child.kill('SIGHUP');
    },
    async close() {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new Error('running as root, PgBouncer needs a "postgres" user to run as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
