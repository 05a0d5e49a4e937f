import { randomBytes } from 'node:crypto';

import type { Knex } from 'knex';

import { jobQueueGrants } from './job-queue.js';

/**
 * Least privilege in the database (API.md): the role that owns the schema
 * (DATABASE_MIGRATION_URL) migrates it; the server's role (DATABASE_URL)
 * gets only what it needs. It reads and writes the tables, may only add
 * audit events and read them, and removes old ones only through
 * `purge_audit_events` (never younger than 30 days). Not being the owner, it
 * cannot alter or drop a table, disable a trigger, or truncate.
 */

/** A role name, quoted for SQL (identifiers cannot be bound as parameters). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The grants of the server's role, idempotent: run by the owning role after each migration. */
export function serverRoleGrants(role: string): string[] {
  const r = quoteIdentifier(role);
  return [
    `grant usage on schema public to ${r}`,
    `revoke create on schema public from ${r}`,
    `grant select, insert, update, delete on all tables in schema public to ${r}`,
    `revoke truncate, references, trigger on all tables in schema public from ${r}`,
    // History: read and add, nothing else; old events go through the purge function.
    `revoke update, delete on audit_events from ${r}`,
    `grant execute on function purge_audit_events(int, int) to ${r}`,
    // The migrations' own book-keeping is the owner's.
    `revoke insert, update, delete on knex_migrations, knex_migrations_lock from ${r}`,
    `grant usage, select on all sequences in schema public to ${r}`,
    // The job queue's schema: its rows, not its shape.
    ...jobQueueGrants(r),
  ];
}

/** Grants the server's role what it needs, on the owner's connection (after migrating). */
export async function grantServerRole(owner: Knex, role: string): Promise<void> {
  await owner.transaction(async (trx) => {
    for (const statement of serverRoleGrants(role)) await trx.raw(statement);
  });
}

/** The role a connection runs as. */
export async function currentRole(db: Knex): Promise<string> {
  const { rows } = (await db.raw('select current_user as role')) as { rows: { role: string }[] };
  return rows[0]!.role;
}

/**
 * The SQL that creates the pair of roles for a database (printed by
 * `npm run cli -- db roles`), with new random passwords shown this once.
 */
export function rolesSql(names: { database: string; owner: string; server: string }): string {
  const owner = quoteIdentifier(names.owner);
  const server = quoteIdentifier(names.server);
  const database = quoteIdentifier(names.database);
  const password = () => randomBytes(24).toString('base64url');
  return `-- Two roles for Octiv System Integrations on the database ${names.database}. Run as a superuser
-- (psql -d ${names.database}). The passwords below are new and shown only here: put them into
-- DATABASE_MIGRATION_URL (${names.owner}) and DATABASE_URL (${names.server}), and nowhere else.
create role ${owner} login password '${password()}';
create role ${server} login password '${password()}';
grant connect, temporary on database ${database} to ${owner}, ${server};
-- The owner also makes the job queue's schema (pgboss).
grant create on database ${database} to ${owner};
-- The owner owns the schema (and so every table the migrations make); the server's role cannot create in it.
alter schema public owner to ${owner};
revoke create on schema public from public;
-- A database whose tables the server's role made (one role before): hand them to the owner.
-- reassign owned by ${server} to ${owner};
-- Then start the server with DATABASE_URL as ${names.server} and DATABASE_MIGRATION_URL as ${names.owner}:
-- it migrates as ${names.owner} and grants ${names.server} only what it needs (see docs/security.md).
`;
}
