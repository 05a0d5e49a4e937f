import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import v8 from 'node:v8';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { PGlite } from '@electric-sql/pglite';
import type { Knex } from 'knex';
import ClientPgLite from 'knex-pglite';

/**
 * PGlite's Postgres runs inside this process, so its settings are this
 * process's memory. Its defaults (a 128 MB buffer cache, WAL buffers to
 * match) suit a browser tab with one big database; a server for one small
 * facility does better with a small cache: the operating system's page cache
 * still holds the files.
 *
 * What a commit survives: PGlite writes every commit's WAL to the data
 * folder's files before the statement returns, so a lead answered with 201
 * survives the process being killed (test/durability.test.ts). It never
 * calls fsync (PGlite runs with fsync off; its file system layer has no
 * sync), so a power cut or a kernel crash can lose the last moments. That is
 * the embedded database's bargain; production runs on Postgres.
 */
export const EMBEDDED_SETTINGS: Record<string, string> = {
  shared_buffers: '16MB',
  wal_buffers: '1MB',
  temp_buffers: '2MB',
  work_mem: '4MB',
  maintenance_work_mem: '16MB',
};

/**
 * knex-pglite 0.14 names knex's `del` method "DEL" when it hands the result to
 * knex's Postgres response mapper, which only knows "DELETE", so a delete
 * resolves to a raw result object instead of the row count. Same contract as
 * `pg`: a delete without `returning` resolves to the number of rows deleted.
 */
export class EmbeddedPostgresClient extends (ClientPgLite as unknown as new (config: Knex.Config) => {
  processResponse(obj: { method?: string; returning?: unknown; output?: unknown; response: { affectedRows?: number } }, runner: unknown): unknown;
  acquireConnection(): Promise<PGlite>;
  releaseConnection(connection: PGlite): Promise<unknown>;
}) {
  /**
   * Runs SQL written for Postgres's own protocol (`$n` placeholders, or
   * several statements without values) on the one connection, in turn with
   * every knex query and transaction: the dialect's pool hands it out, so it
   * never lands inside a transaction knex has open. For the job queue (its
   * SQL is its own); what a script leaves open or failed is rolled back.
   */
  async exclusive(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> {
    const connection = await this.acquireConnection();
    try {
      if (values && values.length > 0) return await connection.query(text, values);
      const results = await connection.exec(text);
      return results.length === 1 ? results[0]! : { rows: results.flatMap((result) => result.rows) };
    } catch (error) {
      if (connection.isInTransaction()) await connection.exec('rollback').catch(() => undefined);
      throw error;
    } finally {
      await this.releaseConnection(connection);
    }
  }

  override processResponse(
    obj: { method?: string; returning?: unknown; output?: unknown; response: { affectedRows?: number } },
    runner: unknown,
  ): unknown {
    if (obj.method === 'del' && !obj.returning && !obj.output) return obj.response.affectedRows ?? 0;
    return super.processResponse(obj, runner);
  }
}

const BUILDING_PREFIX = '.initializing-';
const INIT_SCRIPT = fileURLToPath(new URL('./embedded-init.js', import.meta.url));

/**
 * Opens the embedded database in `dataDir`. A new folder is first created by
 * a short-lived child process: creating a cluster (initdb) takes PGlite's
 * WebAssembly memory to ~800 MB, which a process never gives back, so the
 * server itself only ever opens an existing cluster.
 */
export async function openEmbedded(dataDir: string): Promise<PGlite> {
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initializeInChild(dataDir);
  // PGlite's own defaults (an explicit list replaces them), then ours.
  const startParams = [...PGlite.defaultStartParams, ...Object.entries(EMBEDDED_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
  // PGlite's WebAssembly runs on V8's baseline compiler (Liftoff) only: the
  // optimizing tier-up compiles hot functions on background threads whose
  // memory stays with the process, ~80 MB at idle. Measured by `npm run
  // bench`: idle RSS ~265 -> ~185 MB, the Leads API 6% slower and
  // introspection 14% slower on the embedded database. No effect on Postgres
  // (this module loads only for the embedded database).
  v8.setFlagsFromString('--liftoff-only');
  const pglite = new PGlite(dataDir, { startParams });
  await pglite.waitReady;
  return pglite;
}

/**
 * Creates the cluster in a temporary folder inside `dataDir` (in a child
 * process, see `openEmbedded`), then moves its entries into `dataDir` with
 * PG_VERSION last: a folder with PG_VERSION holds a whole cluster. A start
 * interrupted before that finds no PG_VERSION and begins again, clearing
 * what the interrupted one left (only names a new cluster has, so the lock
 * and `secrets.key` stay). The child is killed when this process exits, and
 * stops by itself when this process is killed (its IPC channel closes).
 */
async function initializeInChild(dataDir: string): Promise<void> {
  // Each attempt builds in its own folder; an earlier attempt's (its server killed) is removed, and
  // a child of that attempt still writing there fails and exits: only a live server moves files in.
  for (const name of await readdir(dataDir)) {
    if (name.startsWith(BUILDING_PREFIX)) await rm(path.join(dataDir, name), { recursive: true, force: true });
  }
  const building = path.join(dataDir, `${BUILDING_PREFIX}${process.pid}-${Date.now()}`);
  const child = spawn(process.execPath, [INIT_SCRIPT, building], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    if (code !== 0) {
      throw new Error(`Creating the embedded database in ${dataDir} failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${stderr.trim().slice(-500)}`);
    }
  } finally {
    process.removeListener('exit', killChild);
  }
  const entries = (await readdir(building)).filter((name) => name !== 'PG_VERSION');
  for (const name of [...entries, 'PG_VERSION']) {
    await rm(path.join(dataDir, name), { recursive: true, force: true });
    await rename(path.join(building, name), path.join(dataDir, name));
  }
  await rm(building, { recursive: true, force: true });
}
