import type { Knex } from 'knex';

/**
 * Each key's use day by day (API.md, "Usage you can see").
 *
 * - `api_key_usage_days`: one row per key, UTC day and outcome (`accepted`,
 *   or why it was refused: a verifier reason or `rate_limited`), holding how
 *   many requests ended so. One row per outcome, not a jsonb of them, so
 *   that every process adds its counts with one plain upsert
 *   (`requests = requests + excluded.requests`): the row lock of the
 *   conflict serialises two processes' additions, and none is lost. The
 *   primary key reads a key's 90 days as one index range; `day` alone
 *   serves the retention purge.
 * - Leads created per day are counted from `members` itself (one source of
 *   truth with the key's `leadsCreated`): the index on `created_by_key`
 *   gains `created_at`, so a key's days are one index range too. It replaces
 *   the narrower index, which the key's total count still uses.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table api_key_usage_days (
    key_id uuid not null references api_keys (id) on delete cascade,
    day date not null,
    outcome text not null check (outcome ~ '^[a-z_]{1,40}$'),
    requests bigint not null check (requests > 0),
    primary key (key_id, day, outcome))`);
  await knex.raw('create index api_key_usage_days_day on api_key_usage_days (day)');
  await knex.raw('create index members_created_by_key_time on members (created_by_key, created_at)');
  await knex.raw('drop index members_created_by_key');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('create index members_created_by_key on members (created_by_key)');
  await knex.raw('drop index members_created_by_key_time');
  await knex.raw('drop table api_key_usage_days');
}
