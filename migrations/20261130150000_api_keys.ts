import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (table) => {
    table.uuid('id').primary();
    table.uuid('facility_id').notNullable().references('id').inTable('facilities').onDelete('CASCADE');
    table.text('name').notNullable();
    table.specificType('scopes', 'text[]').notNullable();
    // SHA-256 of the key: the same value the oidc-provider adapter stores as the token id.
    table.text('token_hash').notNullable().unique();
    table.uuid('created_by').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Room for what the help page lists for later: expiry, rotation, usage.
    table.timestamp('expires_at', { useTz: true });
    table.timestamp('last_used_at', { useTz: true });
    table.uuid('rotated_from').references('id').inTable('api_keys');
    table.timestamp('deleted_at', { useTz: true });
    table.uuid('deleted_by');
    table.foreign(['facility_id', 'created_by']).references(['facility_id', 'id']).inTable('staff');
    table.index(['facility_id', 'created_at']);
  });
  await knex.raw(`alter table api_keys add constraint api_keys_scopes_not_empty check (cardinality(scopes) > 0)`);
  await knex.raw(`alter table api_keys add constraint api_keys_name_length check (char_length(name) between 1 and 100)`);
  // One live key per name in a facility (names compare case-insensitively);
  // deleted keys free their name. Enforced here, not by check-then-insert.
  await knex.raw(`create unique index api_keys_live_name_unique on api_keys (facility_id, lower(name)) where deleted_at is null`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_keys');
}
