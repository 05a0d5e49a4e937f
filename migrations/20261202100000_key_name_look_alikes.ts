import type { Knex } from 'knex';

import { lookAlikeKey } from '../src/http/look-alikes.js';

/**
 * Key names that look the same are one name: "API Key", "АРІ Key" (Cyrillic)
 * and "api key" share a look-alike key (lookAlikeKey: Unicode's confusable
 * skeleton, case folded), which the store writes into `name_skeleton`. The
 * live-name unique index moves onto it (same name), so two creates at once
 * cannot both take a name, nor a look-alike of it. Keys live before this
 * migration that already look alike keep working: each one after the
 * first (oldest) gets its id appended to its key, so none of them blocks
 * the index and any new look-alike still meets the oldest.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.text('name_skeleton');
  });
  const rows: { id: string; facility_id: string; name: string; deleted_at: Date | null }[] = await knex('api_keys')
    .select('id', 'facility_id', 'name', 'deleted_at')
    .orderBy([{ column: 'created_at' }, { column: 'id' }]);
  const taken = new Set<string>();
  for (const row of rows) {
    let key = lookAlikeKey(row.name);
    if (row.deleted_at === null) {
      const inFacility = `${row.facility_id} ${key}`;
      if (taken.has(inFacility)) key = `${key} #${row.id}`;
      taken.add(inFacility);
    }
    await knex('api_keys').where({ id: row.id }).update({ name_skeleton: key });
  }
  await knex.raw('alter table api_keys alter column name_skeleton set not null');
  await knex.raw('drop index api_keys_live_name_unique');
  await knex.raw('create unique index api_keys_live_name_unique on api_keys (facility_id, name_skeleton) where deleted_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index api_keys_live_name_unique');
  // Names unique by look are unique by lower case too (a look-alike key is one of the lower-case name).
  await knex.raw('create unique index api_keys_live_name_unique on api_keys (facility_id, lower(name)) where deleted_at is null');
  await knex.schema.alterTable('api_keys', (table) => {
    table.dropColumn('name_skeleton');
  });
}
