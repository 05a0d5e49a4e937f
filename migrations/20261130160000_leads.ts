import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Members of a facility; the Leads API creates them with status 'lead'.
  await knex.schema.createTable('members', (table) => {
    table.uuid('id').primary();
    table.uuid('facility_id').notNullable().references('id').inTable('facilities').onDelete('CASCADE');
    table.uuid('location_id');
    table.text('first_name').notNullable();
    table.text('last_name').notNullable();
    table.text('email').notNullable();
    table.text('phone');
    table.text('source');
    table.text('notes');
    table.text('status').notNullable().defaultTo('lead');
    table.uuid('created_by_key').references('id').inTable('api_keys');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // A lead's location must be a location of the lead's own facility.
    table
      .foreign(['facility_id', 'location_id'], 'members_location_in_facility')
      .references(['facility_id', 'id'])
      .inTable('locations');
  });
  await knex.raw(`alter table members add constraint members_status_check check (status in ('lead', 'active', 'inactive'))`);
  await knex.raw('create unique index members_facility_email_unique on members (facility_id, lower(email))');

  // Idempotency-Key records of the Leads API, scoped to the API key.
  await knex.schema.createTable('idempotency_records', (table) => {
    table.uuid('api_key_id').notNullable();
    table.text('idempotency_key').notNullable();
    table.text('fingerprint').notNullable();
    table.integer('response_status');
    table.jsonb('response_body');
    table.jsonb('response_headers');
    table.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('completed_at', { useTz: true });
    table.primary(['api_key_id', 'idempotency_key']);
    table.index(['started_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('idempotency_records');
  await knex.schema.dropTable('members');
}
