import type { Knex } from 'knex';

/**
 * Key lifecycle: the facility's key policy (maximum lifetime, default rate
 * limit), a key's own rate limit, the hint that tells secrets apart, and
 * the index that counts the leads a key created.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('facilities', (table) => {
    // Null: keys may live for ever. Set: a key's expiry is at most this many days after its creation.
    table.integer('api_key_max_lifetime_days');
    table.integer('api_key_rate_limit').notNullable().defaultTo(600);
    table.integer('api_key_rate_window_seconds').notNullable().defaultTo(60);
  });
  await knex.raw(`alter table facilities add constraint facilities_api_key_policy_check check (
    (api_key_max_lifetime_days is null or api_key_max_lifetime_days between 1 and 3650)
    and api_key_rate_limit between 1 and 100000 and api_key_rate_window_seconds between 1 and 86400)`);

  await knex.schema.alterTable('api_keys', (table) => {
    // Both null: the facility's default rate limit applies.
    table.integer('rate_limit');
    table.integer('rate_window_seconds');
  });
  await knex.raw(`alter table api_keys add constraint api_keys_rate_limit_check check (
    (rate_limit is null) = (rate_window_seconds is null)
    and (rate_limit is null or (rate_limit between 1 and 100000 and rate_window_seconds between 1 and 86400)))`);

  await knex.schema.alterTable('api_key_secrets', (table) => {
    // The last four characters of the secret (part of its checksum): enough to tell keys apart.
    table.text('hint');
  });
  await knex.raw('create index members_created_by_key on members (created_by_key)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index members_created_by_key');
  await knex.schema.alterTable('api_key_secrets', (table) => table.dropColumn('hint'));
  await knex.schema.alterTable('api_keys', (table) => {
    table.dropChecks(['api_keys_rate_limit_check']);
    table.dropColumn('rate_limit');
    table.dropColumn('rate_window_seconds');
  });
  await knex.schema.alterTable('facilities', (table) => {
    table.dropChecks(['facilities_api_key_policy_check']);
    table.dropColumn('api_key_max_lifetime_days');
    table.dropColumn('api_key_rate_limit');
    table.dropColumn('api_key_rate_window_seconds');
  });
}
