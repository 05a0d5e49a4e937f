import { setTimeout as pause } from 'node:timers/promises';

import test from 'ava';
import pg from 'pg';

import { defineStatement } from '../src/db/fast-path.js';
import { inTransaction } from '../src/db/transaction.js';
import { createTestDatabase, directUrl, openMigrated } from './helpers/database.js';
import { eventually } from './helpers/eventually.js';

// The one way around knex (issue 24): statements written once with $n
// placeholders, knex's form rendered from the same builder (never by
// rewriting text), and refused inside an open transaction.

test('a statement is written once: $n for Postgres, and knex\'s ? form with each value where it goes', (t) => {
  const statement = defineStatement('probe', (p) => `select ${p(2)}::int as b, ${p(1)}::int as a, ${p(2)}::int as b_again`);
  t.is(statement.text, 'select $2::int as b, $1::int as a, $2::int as b_again');
  t.deepEqual(statement.knex, { sql: 'select ?::int as b, ?::int as a, ?::int as b_again', order: [1, 0, 1] });
  // A value the SQL does not use (a branch the builder left out) takes no place.
  const unused = defineStatement('unused', (p) => {
    const skipped = p(3);
    void skipped;
    return `select ${p(1)}::text as x`;
  });
  t.deepEqual(unused.knex.order, [0]);
  t.throws(() => defineStatement('jsonb', () => `select '{}'::jsonb ? 'key'`), { message: /holds a "\?"/ });
});

test('the fast path answers on both kinds of database, and refuses to run inside a transaction', async (t) => {
  for (const kind of ['postgres', 'embedded'] as const) {
    const database = await createTestDatabase(kind);
    const opened = await openMigrated(database);
    try {
      const statement = defineStatement('sum', (p) => `select ${p(1)}::int + ${p(2)}::int as sum, ${p(1)}::int as first`);
      t.deepEqual(await opened.fast.run(statement, [2, 3]), [{ sum: 5, first: 2 }], kind);
      await t.throwsAsync(
        inTransaction(opened.knex, () => opened.fast.run(statement, [1, 1])),
        { message: /runs on its own connection: it must not be sent inside inTransaction/ },
        kind,
      );
    } finally {
      await opened.close();
      await database.drop();
    }
  }
});

test('closing the database while a knex query runs lets it finish, and returns: no connection is left unreturned', async (t) => {
  // knex.destroy() before pool.end() leaked the connection of a query still running (knex could no longer hand it
  // back), and pool.end() then waited for it forever: a test's close hung so in CI. The query here waits on an
  // advisory lock another session holds until close() has begun, so it is provably running then. Each wait is bounded.
  // 5 s: well under the 15 s after which close() gives up on a connection and returns anyway.
  const within = <T>(what: string, promise: Promise<T>) =>
    Promise.race([promise, pause(5_000, undefined, { ref: false }).then(() => Promise.reject(new Error(`${what}: still waiting after 5 s`)))]);
  const database = await createTestDatabase('postgres');
  const opened = await openMigrated(database);
  // Straight to Postgres: through a transaction pooler the lock's session could be the query's own backend.
  const holder = new pg.Client({ connectionString: directUrl(database.env.DATABASE_URL!) });
  await holder.connect();
  try {
    await holder.query('select pg_advisory_lock(4242)');
    let settled = false;
    // A knex query starts when it is awaited (then): started here, not at the line that awaits its result.
    const running = opened.knex
      .raw('select pg_advisory_xact_lock(4242), 1 as done')
      .then((result) => result)
      .finally(() => (settled = true));
    await eventually(() => opened.poolFigures().inUse === 1, { what: 'the query to hold its connection' });
    const closing = opened.close();
    t.false(settled, 'the query was still running when close() began');
    await holder.query('select pg_advisory_unlock(4242)');
    await t.notThrowsAsync(within('closing the database', closing));
    t.is((await within('the query that was running', running)).rows[0]?.done, 1, 'the query that was running finished');
    await t.throwsAsync(opened.knex.raw('select 1').then((result) => result), undefined, 'a closed database refuses new queries');
  } finally {
    await holder.end();
    await within('closing the database', opened.close()).catch(() => undefined);
    await database.drop();
  }
});
