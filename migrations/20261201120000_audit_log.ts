import type { Knex } from 'knex';

/**
 * The audit log: append-only in the database itself. A trigger refuses every
 * UPDATE, and every DELETE but the retention purge's: a transaction that
 * sets `octiv.audit_retention_days` (SET LOCAL, which only the operator's
 * purge does) may delete events older than that many days, and nothing
 * newer. TRUNCATE is refused outright.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (table) => {
    table.uuid('id').primary();
    // Null only for what belongs to no facility (a sign-in attempt for an unknown email).
    table.uuid('facility_id').references('id').inTable('facilities').onDelete('CASCADE');
    // To the millisecond, as JavaScript dates and the list's cursor carry it.
    table.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.raw("date_trunc('milliseconds', clock_timestamp())"));
    table.text('action').notNullable();
    table.text('actor_type').notNullable();
    table.uuid('actor_id');
    table.text('actor_name');
    table.text('target_type');
    table.uuid('target_id');
    table.text('target_name');
    table.text('ip');
    table.text('user_agent');
    table.text('request_id');
    table.jsonb('details').notNullable().defaultTo('{}');
  });
  await knex.raw(`alter table audit_events add constraint audit_events_actor_type_check check (actor_type in ('staff', 'system', 'secret-scanning'))`);
  await knex.raw('create index audit_events_facility_time on audit_events (facility_id, occurred_at desc, id desc)');
  await knex.raw('create index audit_events_facility_target on audit_events (facility_id, target_id, occurred_at desc, id desc)');
  await knex.raw('create index audit_events_time on audit_events (occurred_at)');

  await knex.raw(`create function audit_events_append_only() returns trigger language plpgsql as $$
    declare
      retention text := current_setting('octiv.audit_retention_days', true);
    begin
      if tg_op = 'DELETE' and retention is not null and retention <> ''
         and old.occurred_at < now() - make_interval(days => retention::int) then
        return old;
      end if;
      raise exception 'audit events are append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`);
  await knex.raw(`create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_append_only()`);
  await knex.raw(`create function audit_events_no_truncate() returns trigger language plpgsql as $$
    begin
      raise exception 'audit events are append-only: TRUNCATE refused' using errcode = 'insufficient_privilege';
    end $$`);
  await knex.raw(`create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function audit_events_no_truncate()`);

  // The addresses each key has been used from: a key's first use from a new address is an audit event.
  await knex.schema.createTable('api_key_ips', (table) => {
    table.uuid('key_id').notNullable().references('id').inTable('api_keys').onDelete('CASCADE');
    table.text('ip').notNullable();
    table.timestamp('first_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.primary(['key_id', 'ip']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_key_ips');
  await knex.raw('drop trigger audit_events_no_truncate on audit_events');
  await knex.raw('drop trigger audit_events_append_only on audit_events');
  await knex.schema.dropTable('audit_events');
  await knex.raw('drop function audit_events_no_truncate');
  await knex.raw('drop function audit_events_append_only');
}
