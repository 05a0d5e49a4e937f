import type { Knex } from 'knex';

/**
 * A key is one resource with one or two live secrets (the current one and,
 * during a rotation, the previous one). Each secret is its own row here, named
 * by the SHA-256 of the secret (the same value the OAuth adapter stores as the
 * token's id). The key row keeps what the key is; revocation (a leaked key)
 * gets its own columns beside the delete tombstone.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_key_secrets', (table) => {
    table.text('token_hash').primary();
    table.uuid('key_id').notNullable().references('id').inTable('api_keys').onDelete('CASCADE');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Null: the current secret. Set: a previous secret, accepted until then.
    table.timestamp('ends_at', { useTz: true });
    table.timestamp('last_used_at', { useTz: true });
    table.text('last_used_ip');
    table.index(['key_id']);
  });
  await knex.raw('create unique index api_key_secrets_one_current on api_key_secrets (key_id) where ends_at is null');
  await knex.raw(`insert into api_key_secrets (token_hash, key_id, created_at, last_used_at)
    select token_hash, id, created_at, last_used_at from api_keys`);

  await knex.schema.alterTable('api_keys', (table) => {
    table.dropColumn('token_hash');
    table.dropColumn('rotated_from');
    table.dropColumn('last_used_at');
    table.timestamp('revoked_at', { useTz: true });
    table.text('revoked_reason');
    table.text('revoked_by_type');
    table.uuid('revoked_by');
    table.jsonb('revocation_details');
  });
  await knex.raw(`alter table api_keys add constraint api_keys_revoked_by_type_check
    check (revoked_by_type in ('staff', 'system', 'secret-scanning'))`);
  await knex.raw(`alter table api_keys add constraint api_keys_revocation_complete
    check ((revoked_at is null) = (revoked_reason is null) and (revoked_at is null) = (revoked_by_type is null))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.dropChecks(['api_keys_revoked_by_type_check', 'api_keys_revocation_complete']);
    table.dropColumn('revoked_at');
    table.dropColumn('revoked_reason');
    table.dropColumn('revoked_by_type');
    table.dropColumn('revoked_by');
    table.dropColumn('revocation_details');
    table.text('token_hash');
    table.uuid('rotated_from').references('id').inTable('api_keys');
    table.timestamp('last_used_at', { useTz: true });
  });
  await knex.raw(`update api_keys k set token_hash = s.token_hash, last_used_at = s.last_used_at
    from api_key_secrets s where s.key_id = k.id and s.ends_at is null`);
  await knex.raw(`update api_keys k set token_hash = 'lost-' || k.id::text where token_hash is null`);
  await knex.raw('alter table api_keys alter column token_hash set not null');
  await knex.raw('alter table api_keys add constraint api_keys_token_hash_unique unique (token_hash)');
  await knex.schema.dropTable('api_key_secrets');
}
