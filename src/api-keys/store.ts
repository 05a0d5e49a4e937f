import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';
import { liveAccessTokenHashes } from '../oauth/adapter.js';
import type { ApiKey } from './model.js';

export const LIVE_NAME_CONSTRAINT = 'api_keys_live_name_unique';

interface ApiKeyRow {
  id: string;
  facility_id: string;
  name: string;
  scopes: string[];
  created_at: Date;
  created_by: string;
  created_by_name: string;
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    facilityId: row.facility_id,
    name: row.name,
    scopes: row.scopes,
    createdAt: row.created_at,
    createdBy: { id: row.created_by, name: row.created_by_name },
  };
}

export function createApiKeyStore(db: Knex) {
  /** Live keys: not deleted, and their token still stored and unexpired (what makes a key work). */
  const live = () =>
    queryable(db)('api_keys as k')
      .join('staff as s', 's.id', 'k.created_by')
      .whereNull('k.deleted_at')
      .whereIn('k.token_hash', liveAccessTokenHashes(db))
      .select('k.id', 'k.facility_id', 'k.name', 'k.scopes', 'k.created_at', 'k.created_by', 's.name as created_by_name');

  return {
    /** Records a new key. A live key of the same name in the facility violates LIVE_NAME_CONSTRAINT. */
    async insert(input: { id: string; facilityId: string; name: string; scopes: string[]; tokenHash: string; createdBy: string }): Promise<void> {
      await queryable(db)('api_keys').insert({
        id: input.id,
        facility_id: input.facilityId,
        name: input.name,
        scopes: input.scopes,
        token_hash: input.tokenHash,
        created_by: input.createdBy,
      });
    },

    async findLive(facilityId: string, id: string): Promise<ApiKey | undefined> {
      const row = (await live().where({ 'k.facility_id': facilityId, 'k.id': id }).first()) as ApiKeyRow | undefined;
      return row && toApiKey(row);
    },

    /** The facility's live keys, newest first. */
    async listLive(facilityId: string): Promise<ApiKey[]> {
      const rows = (await live()
        .where({ 'k.facility_id': facilityId })
        .orderBy([{ column: 'k.created_at', order: 'desc' }, { column: 'k.id', order: 'desc' }])) as ApiKeyRow[];
      return rows.map(toApiKey);
    },

    /**
     * Tombstones a live key of the facility; returns its token hash so the
     * caller can destroy the token in the same transaction, or undefined when
     * there is no such live key (unknown, deleted, or another facility's).
     */
    async tombstone(facilityId: string, id: string, deletedBy: string): Promise<string | undefined> {
      const [row] = (await queryable(db)('api_keys')
        .where({ facility_id: facilityId, id })
        .whereNull('deleted_at')
        .update({ deleted_at: db.fn.now(), deleted_by: deletedBy })
        .returning('token_hash')) as { token_hash: string }[];
      return row?.token_hash;
    },
  };
}

export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
