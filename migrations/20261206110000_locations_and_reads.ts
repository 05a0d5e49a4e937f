import type { Knex } from 'knex';

/**
 * Keys limited to locations, and reading leads with a cursor (API.md,
 * "Scopes and locations", "Leads: read").
 *
 * - `api_keys.location_ids`: the locations a key is good for; null for
 *   every location of its facility (every key made before).
 * - `members.created_xid`: the transaction that wrote the row. A cursor
 *   over leads runs in the order (created_xid, created_at, id) and sees a
 *   row only once every transaction older than the oldest one still running
 *   has ended (`pg_snapshot_xmin`): a lead written by a transaction that
 *   started earlier but commits later can then never appear behind a cursor
 *   already handed out. Rows written before this migration share its
 *   transaction's id, and keep their order by created_at, then id.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table api_keys add column location_ids uuid[]');
  await knex.raw(`alter table api_keys add constraint api_keys_location_ids_not_empty check (location_ids is null or cardinality(location_ids) > 0)`);
  await knex.raw('alter table members add column created_xid xid8 not null default pg_current_xact_id()');
  await knex.raw('create index members_read_cursor on members (facility_id, created_xid, created_at, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index members_read_cursor');
  await knex.raw('alter table members drop column created_xid');
  await knex.raw('alter table api_keys drop constraint api_keys_location_ids_not_empty');
  await knex.raw('alter table api_keys drop column location_ids');
}
