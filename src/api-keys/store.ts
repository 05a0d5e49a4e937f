import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';
import type { Actor } from './model.js';
import { CURRENT_SECRET_JOINS, refusalExpression, statusOf, type Refusal, type Requirement } from './verifier.js';
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
  refusal: Exclude<Refusal, 'malformed'> | null;
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    facilityId: row.facility_id,
    name: row.name,
    scopes: row.scopes,
    createdAt: row.created_at,
    createdBy: { id: row.created_by, name: row.created_by_name },
    status: statusOf(row.refusal),
  };
}

/** How a key ends: deleted (gone from the list) or revoked (listed as revoked until deleted). */
export interface Ending {
  kind: 'deleted' | 'revoked';
  actor: Actor;
  /** Why, in a word or a sentence (`leaked`, an operator's reason); required to revoke. */
  reason: string;
  details?: Record<string, unknown>;
}

export function createApiKeyStore(db: Knex) {
  /**
   * The facility's undeleted keys, each judged by the verifier's rules
   * against its current secret (the `refusal` column), so the list and every
   * path that accepts a key agree.
   */
  const listed = (requirement: Requirement) => {
    const refusal = refusalExpression(requirement);
    return queryable(db)('api_keys as k')
      .join('staff as st', 'st.id', 'k.created_by')
      .joinRaw(CURRENT_SECRET_JOINS)
      .whereNull('k.deleted_at')
      .select(
        'k.id',
        'k.facility_id',
        'k.name',
        'k.scopes',
        'k.created_at',
        'k.created_by',
        'st.name as created_by_name',
        db.raw(`${refusal.sql} as refusal`, refusal.bindings),
      );
  };

  return {
    /** Records a new key and its first secret. A live key of the same name in the facility violates LIVE_NAME_CONSTRAINT. */
    async insert(input: { id: string; facilityId: string; name: string; scopes: string[]; tokenHash: string; createdBy: string }): Promise<void> {
      await queryable(db)('api_keys').insert({
        id: input.id,
        facility_id: input.facilityId,
        name: input.name,
        scopes: input.scopes,
        created_by: input.createdBy,
      });
      await queryable(db)('api_key_secrets').insert({ token_hash: input.tokenHash, key_id: input.id });
    },

    async find(facilityId: string, id: string, requirement: Requirement): Promise<ApiKey | undefined> {
      const row = (await listed(requirement).where({ 'k.facility_id': facilityId, 'k.id': id }).first()) as ApiKeyRow | undefined;
      return row && toApiKey(row);
    },

    /** The facility's keys (deleted ones aside), newest first. */
    async list(facilityId: string, requirement: Requirement): Promise<ApiKey[]> {
      const rows = (await listed(requirement)
        .where({ 'k.facility_id': facilityId })
        .orderBy([{ column: 'k.created_at', order: 'desc' }, { column: 'k.id', order: 'desc' }])) as ApiKeyRow[];
      return rows.map(toApiKey);
    },

    /**
     * Ends a key of the facility (any facility when `facilityId` is null, for
     * the operator): a delete tombstones it, a revocation marks it revoked.
     * Returns the hashes of its secrets, so the caller can destroy their
     * tokens in the same transaction, or undefined when there is no such key
     * to end (unknown, deleted, already revoked when revoking, or another
     * facility's).
     */
    async end(facilityId: string | null, id: string, ending: Ending): Promise<string[] | undefined> {
      const actor = ending.actor.type === 'staff' ? ending.actor.id : null;
      const changes =
        ending.kind === 'deleted'
          ? { deleted_at: db.fn.now(), deleted_by: actor }
          : {
              revoked_at: db.fn.now(),
              revoked_by: actor,
              revoked_by_type: ending.actor.type,
              revoked_reason: ending.reason,
              revocation_details: ending.details ? JSON.stringify(ending.details) : null,
            };
      const query = queryable(db)('api_keys').where({ id }).whereNull('deleted_at');
      if (facilityId !== null) query.where({ facility_id: facilityId });
      if (ending.kind === 'revoked') query.whereNull('revoked_at');
      const [row] = (await query.update(changes).returning('id')) as { id: string }[];
      if (!row) return undefined;
      return queryable(db)('api_key_secrets').where({ key_id: id }).pluck('token_hash');
    },
  };
}

export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
