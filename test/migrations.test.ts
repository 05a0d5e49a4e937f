import test from 'ava';

import { DEMO, isEmpty, seedDemo } from '../seeds/demo.js';
import { createDatabase } from '../src/db/database.js';
import { migrateDownAll, migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../migrations/index.js';
import { verifyPassword } from '../src/staff/passwords.js';
import { createTestDatabase } from './helpers/database.js';

test('migrations go up, all the way down, and up again; the seed is idempotent', async (t) => {
  const database = await createTestDatabase();
  const opened = await createDatabase(database.config);
  const db = opened.knex;
  try {
    t.deepEqual(await migrateToLatest(db), migrations.map((migration) => migration.name));
    t.deepEqual(await migrateToLatest(db), [], 'a second run applies nothing');
    t.true(await isEmpty(db));

    await seedDemo(db, { password: 'first-password' });
    await seedDemo(db, { password: 'second-password' });
    t.false(await isEmpty(db));
    t.is((await db('facilities').count('* as n').first())?.n, 2);
    t.is((await db('locations').where({ facility_id: DEMO.demoFitness.id }).count('* as n').first())?.n, 2);
    t.is((await db('locations').where({ facility_id: DEMO.otherGym.id }).count('* as n').first())?.n, 1);
    t.is((await db('staff').count('* as n').first())?.n, 5);
    const owner = await db('staff').where({ email: 'owner@demo.test' }).first();
    t.true(await verifyPassword('first-password', owner.password_hash), 'the second seed left existing rows alone');
    t.regex(owner.password_hash, /^scrypt\$/);

    await migrateDownAll(db);
    const tables = await db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name');
    t.deepEqual(tables.filter((name: string) => !name.startsWith('knex_')), []);
    t.deepEqual(await migrateToLatest(db), migrations.map((migration) => migration.name));
  } finally {
    await opened.close();
    await database.drop();
  }
});

test('the database refuses an Owner without System Integrations', async (t) => {
  const database = await createTestDatabase();
  const opened = await createDatabase(database.config);
  const db = opened.knex;
  try {
    await migrateToLatest(db);
    await seedDemo(db, { password: 'demo-password' });
    const error = await t.throwsAsync(db('staff').where({ email: 'owner@demo.test' }).update({ system_integrations: false }));
    t.regex(String(error?.message), /staff_owner_has_system_integrations/);
  } finally {
    await opened.close();
    await database.drop();
  }
});
