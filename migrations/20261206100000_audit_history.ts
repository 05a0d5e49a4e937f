import type { Knex } from 'knex';

/**
 * The audit log cannot be rewritten, by anyone but its owner (issue 25):
 *
 * - No session setting opens the door to recent events any more: a delete
 *   is allowed only for events older than the retention a transaction asks
 *   for, and never for events younger than 30 days, whatever it asks
 *   (`set_config('octiv.audit_retention_days', '-36500', true)` once made
 *   every event deletable).
 * - The purge goes through `purge_audit_events(retention_days, batch_size)`,
 *   owned by the role that migrates and run with its rights (SECURITY
 *   DEFINER): with a separate migration role (DATABASE_MIGRATION_URL) the
 *   server's role may call it, and has no DELETE, UPDATE or TRUNCATE on the
 *   table at all (see src/db/roles.ts).
 * - History is written as it happens: an event's time is the database's
 *   clock at insert, whatever the insert says (no back-dated event).
 * - The operator's command line is an actor of its own (`operator`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table audit_events drop constraint audit_events_actor_type_check');
  await knex.raw(`alter table audit_events add constraint audit_events_actor_type_check check (actor_type in ('staff', 'system', 'secret-scanning', 'operator'))`);
  await knex.raw('alter table api_keys drop constraint api_keys_revoked_by_type_check');
  await knex.raw(`alter table api_keys add constraint api_keys_revoked_by_type_check check (revoked_by_type in ('staff', 'system', 'secret-scanning', 'operator'))`);
  await knex.raw(`create or replace function audit_events_append_only() returns trigger language plpgsql as $$
    declare
      asked int := nullif(current_setting('octiv.audit_retention_days', true), '')::int;
    begin
      if tg_op = 'DELETE' and asked is not null
         and old.occurred_at < now() - make_interval(days => greatest(30, asked)) then
        return old;
      end if;
      raise exception 'audit events are append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`);

  await knex.raw(`create function audit_events_stamp() returns trigger language plpgsql as $$
    begin
      new.occurred_at := date_trunc('milliseconds', clock_timestamp());
      return new;
    end $$`);
  await knex.raw(`create trigger audit_events_stamp before insert on audit_events for each row execute function audit_events_stamp()`);

  await knex.raw(`create function purge_audit_events(retention_days int, batch_size int) returns int
    language plpgsql security definer set search_path = public as $$
    declare
      removed int;
    begin
      perform set_config('octiv.audit_retention_days', greatest(30, retention_days)::text, true);
      delete from audit_events where id in (
        select id from audit_events
        where occurred_at < now() - make_interval(days => greatest(30, retention_days))
        order by occurred_at
        limit greatest(1, least(batch_size, 10000)));
      get diagnostics removed = row_count;
      return removed;
    end $$`);
  await knex.raw('revoke all on function purge_audit_events(int, int) from public');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table audit_events drop constraint audit_events_actor_type_check');
  await knex.raw(`alter table audit_events add constraint audit_events_actor_type_check check (actor_type in ('staff', 'system', 'secret-scanning')) not valid`);
  await knex.raw('alter table api_keys drop constraint api_keys_revoked_by_type_check');
  await knex.raw(`alter table api_keys add constraint api_keys_revoked_by_type_check check (revoked_by_type in ('staff', 'system', 'secret-scanning')) not valid`);
  await knex.raw('drop function purge_audit_events(int, int)');
  await knex.raw('drop trigger audit_events_stamp on audit_events');
  await knex.raw('drop function audit_events_stamp');
  await knex.raw(`create or replace function audit_events_append_only() returns trigger language plpgsql as $$
    declare
      retention text := current_setting('octiv.audit_retention_days', true);
    begin
      if tg_op = 'DELETE' and retention is not null and retention <> ''
         and old.occurred_at < now() - make_interval(days => retention::int) then
        return old;
      end if;
      raise exception 'audit events are append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`);
}
