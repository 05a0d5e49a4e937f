import type { Knex } from 'knex';

/**
 * Rate-limit counters (rate-limiter-flexible's Postgres store, shared by all
 * processes on one database), and sign-in sessions stored by the hash of
 * their id, like tokens: the session cookie's value is a bearer credential,
 * so a copy of the database must not hold it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_limits', (table) => {
    table.string('key', 255).primary();
    table.integer('points').notNullable().defaultTo(0);
    // Milliseconds since the epoch (the library's own format).
    table.bigInteger('expire');
    table.index(['expire']);
  });
  await knex.raw(`update oidc_payloads set id = encode(sha256(convert_to(id, 'UTF8')), 'hex'), payload = payload - 'jti'
    where model in ('Session', 'Interaction')`);
}

export async function down(knex: Knex): Promise<void> {
  // Hashed sessions cannot be turned back: they are dropped (everyone signs in again).
  await knex('oidc_payloads').whereIn('model', ['Session', 'Interaction']).delete();
  await knex.schema.dropTable('rate_limits');
}
