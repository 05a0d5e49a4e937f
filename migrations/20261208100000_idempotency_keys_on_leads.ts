import type { Knex } from 'knex';

/**
 * A lead keeps the Idempotency-Key it was created with (issue 29).
 *
 * - `members.idempotency_key` and `members.request_fingerprint`: the key a
 *   lead was created with, scoped to its creating key (`created_by_key`),
 *   and the fingerprint of that request (method, path, body). Null for a
 *   lead sent without one, and for every lead written before.
 * - `members_idempotency_key_unique`: a key is used once per API key. It
 *   is partial: a lead without a key adds no entry, so it costs those
 *   leads nothing.
 *
 * A lead with a key is then one row, checked by this index: its retry
 * fails on it and is replayed from the lead itself. `idempotency_records`
 * is first of all for what has no lead: an attempt in flight (a claim) and
 * a client error kept for replay (see `docs/design.md`, "Idempotency-Key:
 * the key on the lead").
 *
 * Every row written before has no key, so the check is added `not valid`
 * (it holds for them, and binds every new row) and the index gets no entry
 * from them. Building the index is one pass over `members`, inside this
 * migration's transaction (which holds the table's lock from the first
 * statement): reads and writes of leads wait until it ends. A process of
 * the release before does not look at a lead's key: stop those before
 * this one serves (docs/operations.md, "Upgrades").
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table members add column idempotency_key text, add column request_fingerprint text');
  await knex.raw(`alter table members add constraint members_idempotency_key_with_fingerprint
    check ((idempotency_key is null) = (request_fingerprint is null) and (idempotency_key is null or created_by_key is not null)) not valid`);
  await knex.raw('create unique index members_idempotency_key_unique on members (created_by_key, idempotency_key) where idempotency_key is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index members_idempotency_key_unique');
  await knex.raw('alter table members drop constraint members_idempotency_key_with_fingerprint');
  await knex.raw('alter table members drop column idempotency_key, drop column request_fingerprint');
}
