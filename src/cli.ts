import { seedDemo } from '../seeds/demo.js';
import { ConfigError, loadConfig } from './config.js';
import { createDatabase } from './db/knex.js';
import { migrateDownAll, migrateToLatest } from './db/migrate.js';

/** `node dist/src/cli.js migrate|rollback|seed`: maintenance commands. */
async function run(command: string | undefined): Promise<void> {
  const config = loadConfig();
  if (command === 'seed' && config.production) {
    throw new Error('Refusing to load demo data with NODE_ENV=production.');
  }
  const db = await createDatabase(config.database);
  try {
    switch (command) {
      case 'migrate': {
        const applied = await migrateToLatest(db);
        console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Already up to date.');
        break;
      }
      case 'rollback':
        await migrateDownAll(db);
        console.log('Rolled back every migration.');
        break;
      case 'seed':
        await migrateToLatest(db);
        await seedDemo(db, { password: config.demoPassword });
        console.log('Demo data loaded (existing rows left as they were).');
        break;
      default:
        throw new Error('Usage: cli.js migrate | rollback | seed');
    }
  } finally {
    await db.destroy();
  }
}

run(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String((error as Error).message ?? error)}\n`);
  process.exit(1);
});
