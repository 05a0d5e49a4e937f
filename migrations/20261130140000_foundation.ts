import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('facilities', (table) => {
    table.uuid('id').primary();
    table.text('name').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('locations', (table) => {
    table.uuid('id').primary();
    table.uuid('facility_id').notNullable().references('id').inTable('facilities').onDelete('CASCADE');
    table.text('name').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Lets other tables reference "a location of this facility" with one foreign key.
    table.unique(['facility_id', 'id']);
  });

  await knex.schema.createTable('staff', (table) => {
    table.uuid('id').primary();
    table.uuid('facility_id').notNullable().references('id').inTable('facilities').onDelete('CASCADE');
    table.text('name').notNullable();
    table.text('email').notNullable();
    table.text('role').notNullable();
    table.text('password_hash').notNullable();
    table.boolean('system_integrations').notNullable().defaultTo(false);
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.unique(['facility_id', 'id']);
  });
  await knex.raw(`alter table staff add constraint staff_role_check
    check (role in ('owner', 'admin', 'location_admin', 'trainer'))`);
  // An Owner always has System Integrations; the database refuses anything else.
  await knex.raw(`alter table staff add constraint staff_owner_has_system_integrations
    check (role <> 'owner' or system_integrations)`);
  // Staff sign in by email alone, so an email names one person across facilities.
  await knex.raw('create unique index staff_email_unique on staff (lower(email))');

  await knex.schema.createTable('oidc_payloads', (table) => {
    table.text('model').notNullable();
    // Token-like models (access, refresh and client-credentials tokens,
    // authorization codes) keep only the SHA-256 hash of their id here.
    table.text('id').notNullable();
    table.jsonb('payload').notNullable();
    table.text('grant_id');
    table.text('uid');
    table.text('user_code');
    table.timestamp('expires_at', { useTz: true });
    table.timestamp('consumed_at', { useTz: true });
    table.primary(['model', 'id']);
    table.index(['model', 'grant_id']);
    table.index(['model', 'uid']);
    table.index(['model', 'user_code']);
    table.index(['expires_at']);
  });

  await knex.schema.createTable('server_keys', (table) => {
    table.increments('id').primary();
    table.text('kind').notNullable();
    table.jsonb('material').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table server_keys add constraint server_keys_kind_check
    check (kind in ('signing', 'cookie'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('server_keys');
  await knex.schema.dropTable('oidc_payloads');
  await knex.schema.dropTable('staff');
  await knex.schema.dropTable('locations');
  await knex.schema.dropTable('facilities');
}
