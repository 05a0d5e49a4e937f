import type { Knex } from 'knex';

import { migrations } from '../../migrations/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createDatabase, type Database } from './database.js';
import { currentRole, grantServerRole } from './roles.js';
import { installJobQueue } from './job-queue.js';

const migrationSource: Knex.MigrationSource<(typeof migrations)[number]> = {
  getMigrations: async () => migrations,
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};

const options: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations' };

/** Applies every pending migration; knex's lock table makes concurrent starts safe. */
export async function migrateToLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(options)) as [number, string[]];
  return applied;
}

/** Rolls back every migration (used by tests of `down`). */
export async function migrateDownAll(db: Knex): Promise<void> {
  await db.migrate.rollback(options, true);
}

/**
 * Brings the database to the latest migration before a start: as the
 * server's own role, or, with DATABASE_MIGRATION_URL, as the role that owns
 * the schema, which then grants the server's role only what it needs (see
 * roles.ts). Returns the migrations applied.
 */
export async function prepareDatabase(settings: Config['database'], database: Database, logger?: Logger): Promise<string[]> {
  if (settings.kind !== 'postgres' || !settings.migrationUrl) {
    const applied = await migrateToLatest(database.knex);
    await installJobQueue(database.sql);
    return applied;
  }
  const owner = await createDatabase({ kind: 'postgres', url: settings.migrationUrl, poolMax: 1 }, { logger });
  try {
    const applied = await migrateToLatest(owner.knex);
    await installJobQueue(owner.sql);
    await grantServerRole(owner.knex, await currentRole(database.knex));
    return applied;
  } finally {
    await owner.close();
  }
}
