import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
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

/** PGlite's own start parameters (its defaults, which an explicit list replaces), then ours. */
const PGLITE_START = [
  '--single',
  '-F',
  '-O',
  '-j',
  '-c',
  'search_path=public',
  '-c',
  'exit_on_error=false',
  '-c',
  'log_checkpoints=false',
  '-c',
  'max_worker_processes=0',
  '-c',
  'max_parallel_workers=0',
  '-c',
  'max_parallel_workers_per_gather=0',
  '-c',
  'io_method=sync',
  '-c',
  'max_parallel_maintenance_workers=0',
];

/**
 * knex-pglite 0.14 names knex's `del` method "DEL" when it hands the result to
 * knex's Postgres response mapper, which only knows "DELETE", so a delete
 * resolves to a raw result object instead of the row count. Same contract as
 * `pg`: a delete without `returning` resolves to the number of rows deleted.
 */
export class EmbeddedPostgresClient extends (ClientPgLite as unknown as new (config: Knex.Config) => {
  processResponse(obj: { method?: string; returning?: unknown; output?: unknown; response: { affectedRows?: number } }, runner: unknown): unknown;
}) {
  override processResponse(
    obj: { method?: string; returning?: unknown; output?: unknown; response: { affectedRows?: number } },
    runner: unknown,
  ): unknown {
    if (obj.method === 'del' && !obj.returning && !obj.output) return obj.response.affectedRows ?? 0;
    return super.processResponse(obj, runner);
  }
}

const INIT_SCRIPT = fileURLToPath(new URL('./embedded-init.js', import.meta.url));

/**
 * Opens the embedded database in `dataDir`. A new folder is first created by
 * a short-lived child process: creating a cluster (initdb) takes PGlite's
 * WebAssembly memory to ~800 MB, which a process never gives back, so the
 * server itself only ever opens an existing cluster.
 */
export async function openEmbedded(dataDir: string): Promise<PGlite> {
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initializeInChild(dataDir);
  const startParams = [...PGLITE_START, ...Object.entries(EMBEDDED_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
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

async function initializeInChild(dataDir: string): Promise<void> {
  const child = spawn(process.execPath, [INIT_SCRIPT, dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`Creating the embedded database in ${dataDir} failed (exit ${code}): ${stderr.trim().slice(-500)}`);
}
