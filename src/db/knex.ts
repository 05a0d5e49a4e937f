import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';

import type { Config } from '../config.js';

// Return bigint counts and numeric values as strings is pg's default; we only
// use int/bigint for counts, which fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

export type Database = Knex;

/**
 * Opens the database named by the configuration: Postgres over `pg` when
 * DATABASE_URL is set, otherwise an embedded Postgres (PGlite) kept in
 * DATA_DIR. Both speak the same SQL, so one set of migrations serves both.
 */
export async function createDatabase(database: Config['database']): Promise<Database> {
  if (database.kind === 'postgres') {
    return knexFactory({
      client: 'pg',
      connection: { connectionString: database.url, application_name: 'octiv-system-integrations' },
      pool: { min: 0, max: database.poolMax },
      acquireConnectionTimeout: 10_000,
    });
  }
  const dataDir = path.resolve(database.dataDir);
  await mkdir(dataDir, { recursive: true });
  return knexFactory({
    client: ClientPgLite,
    dialect: 'postgres',
    connection: { filename: dataDir },
    acquireConnectionTimeout: 60_000,
  } as Knex.Config);
}

/** True while the database answers a trivial query within the time limit. */
export async function databaseIsReady(db: Database, timeoutMs = 2_000): Promise<boolean> {
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
