import type { Knex } from 'knex';

import { migrations } from '../../migrations/index.js';

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
