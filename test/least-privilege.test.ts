import { randomBytes, randomUUID } from 'node:crypto';

import test from 'ava';
import knexFactory, { type Knex } from 'knex';

import { DEMO } from '../seeds/demo.js';
import { POSTGRES_ADMIN_URL, TEST_DATABASE_KIND, createTestDatabase, openMigrated } from './helpers/database.js';
import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer } from './helpers/server.js';

// Least privilege in the database (API.md; issue 25, finding 1): the server's
// own role cannot rewrite history. With two roles, it cannot change, delete,
// truncate or un-trigger audit events by any means; with one role, no session
// setting opens recent events to a delete any more.

const refused = /permission denied|must be owner|append-only/;

/** An event as it was 401 days ago, written past the stamp trigger (a superuser's replica session). */
async function oldEvent(db: Knex): Promise<string> {
  const id = randomUUID();
  await db.transaction(async (trx) => {
    await trx.raw('set local session_replication_role = replica');
    await trx('audit_events').insert({ id, facility_id: DEMO.demoFitness.id, action: 'staff.signed_in', actor_type: 'system', occurred_at: trx.raw(`now() - interval '401 days'`) });
  });
  return id;
}

test('one role: no session setting deletes an event younger than 30 days, and an event cannot be back-dated', async (t) => {
  const database = await createTestDatabase();
  const opened = await openMigrated(database);
  const db = opened.knex;
  try {
    const recent = randomUUID();
    await db('audit_events').insert({ id: recent, facility_id: null, action: 'staff.sign_in_failed', actor_type: 'system', occurred_at: db.raw(`now() - interval '400 days'`) });
    const stamped = await db('audit_events').where({ id: recent }).first();
    t.true(Date.now() - new Date(stamped.occurred_at).getTime() < 60_000, 'the database\'s clock, not the insert\'s');
    const old = await oldEvent(db);
    for (const setting of ['-36500', '0', '1', '29', 'abc']) {
      await t.throwsAsync(
        db.transaction(async (trx) => {
          await trx.raw(`select set_config('octiv.audit_retention_days', ?, true)`, [setting]);
          await trx('audit_events').where({ id: recent }).delete();
        }),
        { message: /append-only|invalid input/ },
        `retention ${setting}`,
      );
    }
    t.truthy(await db('audit_events').where({ id: recent }).first(), 'the recent event is still there');
    // The purge function: never younger than 30 days, whatever it is asked.
    const { rows } = (await db.raw('select purge_audit_events(1, 100) as removed')) as { rows: { removed: number }[] };
    t.true(rows[0]!.removed >= 1);
    t.is(await db('audit_events').where({ id: old }).first(), undefined, 'the 401-day-old event went');
    t.truthy(await db('audit_events').where({ id: recent }).first());
  } finally {
    await opened.close();
    await database.drop();
  }
});

// Postgres only (the Postgres suite runs it in CI): the embedded database has one role.
const twoRoles: typeof test = TEST_DATABASE_KIND === 'postgres' ? test : (((title: string, fn: never) => test.skip(`${title} [Postgres only: the embedded database has one role]`, fn)) as unknown as typeof test);

twoRoles('two roles: the server migrates as the owner, runs as a role that cannot change, delete, truncate or un-trigger audit events', async (t) => {
  const suffix = randomBytes(4).toString('hex');
  const owner = `octiv_owner_${suffix}`;
  const app = `octiv_app_${suffix}`;
  const name = `octiv_lp_${suffix}`;
  const admin = knexFactory({ client: 'pg', connection: POSTGRES_ADMIN_URL, pool: { min: 0, max: 1 } });
  const roleUrl = (role: string) => {
    const url = new URL(POSTGRES_ADMIN_URL);
    url.username = role;
    url.pathname = `/${name}`;
    return url.toString();
  };
  let server: Awaited<ReturnType<typeof startTestServer>> | undefined;
  const asApp = knexFactory({ client: 'pg', connection: roleUrl(app), pool: { min: 0, max: 1 } });
  try {
    // What `npm run cli -- db roles` prints, with this test's names (trust authentication here: no passwords).
    await admin.raw(`create role ${owner} login`);
    await admin.raw(`create role ${app} login`);
    await admin.raw(`create database ${name}`);
    const onDatabase = knexFactory({ client: 'pg', connection: (() => { const url = new URL(POSTGRES_ADMIN_URL); url.pathname = `/${name}`; return url.toString(); })(), pool: { min: 0, max: 1 } });
    try {
      await onDatabase.raw(`grant connect, temporary on database ${name} to ${owner}, ${app}`);
      await onDatabase.raw(`grant create on database ${name} to ${owner}`);
      await onDatabase.raw(`alter schema public owner to ${owner}`);
      await onDatabase.raw('revoke create on schema public from public');
    } finally {
      await onDatabase.destroy();
    }
    server = await startTestServer({
      database: { kind: 'postgres', config: { kind: 'postgres', url: roleUrl(app), poolMax: 5, migrationUrl: roleUrl(owner) }, env: { DATABASE_URL: roleUrl(app), DATABASE_MIGRATION_URL: roleUrl(owner) }, drop: async () => undefined },
    });
    // The server works as the app role: sign in, a key, a lead, a delete, the history.
    const token = await signIn(server, 'owner@demo.test');
    const key = await createKey(server, token, 'Least Privilege CRM');
    t.is((await api(server, '/api/v1/leads', { token: key.key, body: { firstName: 'Lee', lastName: 'Stprivilege', email: `lp.${suffix}@example.com` } })).status, 201);
    t.is((await api(server, `/api/v1/api-keys/${key.id}`, { token, method: 'DELETE' })).status, 204);
    const history = await api(server, '/api/v1/audit-events', { token });
    t.is(history.status, 200);
    t.true((history.body.items as { action: string }[]).some((event) => event.action === 'api_key.deleted'));

    const [event] = await asApp('audit_events').select('id').limit(1);
    const attempts: [string, () => Promise<unknown>][] = [
      ['update', () => asApp('audit_events').where({ id: event.id }).update({ action: 'api_key.created' })],
      ['delete', () => asApp('audit_events').where({ id: event.id }).delete()],
      ['delete with a session setting', () => asApp.transaction(async (trx) => {
        await trx.raw(`select set_config('octiv.audit_retention_days', '-36500', true)`);
        await trx('audit_events').delete();
      })],
      ['truncate', () => asApp.raw('truncate audit_events')],
      ['disable the trigger', () => asApp.raw('alter table audit_events disable trigger audit_events_append_only')],
      ['drop the trigger', () => asApp.raw('drop trigger audit_events_append_only on audit_events')],
      ['replace the trigger function', () => asApp.raw(`create or replace function audit_events_append_only() returns trigger language plpgsql as $$ begin return old; end $$`)],
      ['drop the table', () => asApp.raw('drop table audit_events')],
      ['alter the table', () => asApp.raw('alter table audit_events add column note text')],
      ['take the table', () => asApp.raw(`alter table audit_events owner to ${app}`)],
      ['create a table', () => asApp.raw('create table mine (id int)')],
      ['create a schema', () => asApp.raw('create schema mine')],
      ['change the job queue\'s tables', () => asApp.raw('alter table pgboss.job add column note text')],
      ['rewrite the migrations', () => asApp('knex_migrations').delete()],
      ['replica mode', () => asApp.transaction(async (trx) => trx.raw('set local session_replication_role = replica'))],
    ];
    for (const [what, attempt] of attempts) await t.throwsAsync(attempt(), { message: refused }, what);
    t.truthy(await asApp('audit_events').where({ id: event.id }).first(), 'the event is still there');
    // The purge works for the server's role through the function, and never on events younger than 30 days.
    const { rows } = (await asApp.raw('select purge_audit_events(1, 100) as removed')) as { rows: { removed: number }[] };
    t.is(rows[0]!.removed, 0);
    t.truthy(await asApp('audit_events').where({ id: event.id }).first());
  } finally {
    await server?.close();
    await asApp.destroy();
    await admin.raw(`drop database if exists ${name} with (force)`);
    await admin.raw(`drop role if exists ${app}`);
    await admin.raw(`drop role if exists ${owner}`);
    await admin.destroy();
  }
});
