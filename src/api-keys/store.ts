import type { Knex } from 'knex';

import { queryable } from '../db/transaction.js';
import type { RateLimit } from '../facilities/store.js';
import { lookAlikeKey } from '../http/look-alikes.js';
import { KEY_PREFIX } from './key-format.js';
import type { Actor } from '../audit/model.js';
import type { ApiKey } from './model.js';
import { KEY_SECRET_JOINS, PREVIOUS, refusalSql, requirementRow, statusOf, type Refusal, type Requirement } from './verifier.js';

export const LIVE_NAME_CONSTRAINT = 'api_keys_live_name_unique';

/** The characters of a secret kept to tell keys apart: its last four (part of the checksum). */
export const HINT_LENGTH = 4;

interface ApiKeyRow {
  id: string;
  facility_id: string;
  name: string;
  scopes: string[];
  location_ids: string[] | null;
  created_at: Date;
  created_by: string;
  created_by_name: string;
  expires_at: Date | null;
  rate_limit: number;
  rate_window_seconds: number;
  hint: string | null;
  refusal: Exclude<Refusal, 'malformed'> | null;
  previous_refusal: Exclude<Refusal, 'malformed'> | null;
  previous_ends_at: Date | null;
  previous_last_used_at: Date | null;
  last_used_at: Date | null;
  last_used_ip: string | null;
  leads_created: number;
  revoked_at: Date | null;
  revoked_reason: string | null;
  revoked_by_type: 'staff' | 'system' | 'secret-scanning' | 'operator' | null;
  revocation_details: { url?: unknown; source?: unknown } | null;
}

const textOrNull = (value: unknown) => (typeof value === 'string' ? value : null);

function toApiKey(row: ApiKeyRow): ApiKey {
  const status = statusOf(row.refusal, row.previous_refusal);
  return {
    id: row.id,
    facilityId: row.facility_id,
    name: row.name,
    scopes: row.scopes,
    locationIds: row.location_ids,
    createdAt: row.created_at,
    createdBy: { id: row.created_by, name: row.created_by_name },
    status,
    expiresAt: row.expires_at,
    rateLimit: { limit: row.rate_limit, windowSeconds: row.rate_window_seconds },
    hint: row.hint === null ? null : `${KEY_PREFIX}…${row.hint}`,
    lastUsedAt: row.last_used_at,
    lastUsedIp: row.last_used_ip,
    leadsCreated: row.leads_created,
    rotation: status === 'rotating' ? { previousExpiresAt: row.previous_ends_at!, previousLastUsedAt: row.previous_last_used_at } : null,
    revocation: row.revoked_at
      ? {
          revokedAt: row.revoked_at,
          reason: row.revoked_reason ?? '',
          by: row.revoked_by_type ?? 'system',
          url: textOrNull(row.revocation_details?.url),
          source: textOrNull(row.revocation_details?.source),
        }
      : null,
  };
}

/** How a key ends: deleted (gone from the list) or revoked (listed as revoked until deleted). */
export interface Ending {
  kind: 'deleted' | 'revoked';
  actor: Actor;
  /** Why, in a word or a sentence (`leaked`, an operator's reason). */
  reason: string;
  details?: Record<string, unknown>;
}

export interface NewKey {
  id: string;
  facilityId: string;
  name: string;
  scopes: string[];
  /** Null: every location of the facility. */
  locationIds: string[] | null;
  expiresAt: Date | null;
  /** Null: the facility's default. */
  rateLimit: RateLimit | null;
  createdBy: string;
}

/** The secret's own row: its hash (the id its token is stored under) and its hint. */
export interface NewSecret {
  tokenHash: string;
  secret: string;
}

/** A key's effective rate limit: its own, or its facility's default (`k` the key, `f` its facility). */
const EFFECTIVE_RATE_LIMIT =
  'coalesce(k.rate_limit, f.api_key_rate_limit) as rate_limit, coalesce(k.rate_window_seconds, f.api_key_rate_window_seconds) as rate_window_seconds';

/** The rate limit of the key a secret belongs to (whatever its state: the key check decides that). */
export interface SecretRatePolicy {
  keyId: string;
  limit: number;
  windowSeconds: number;
}

export function createApiKeyStore(db: Knex) {
  /**
   * The facility's undeleted keys, each judged by the verifier's rules: its
   * current secret (`refusal`) and its previous one during a rotation
   * (`previous_refusal`), so the list and every path that accepts a key
   * agree. Last use is the latest of its secrets'.
   */
  const listed = (requirement: Requirement) => {
    const q = requirementRow(requirement);
    return queryable(db)('api_keys as k')
      .join('facilities as f', 'f.id', 'k.facility_id')
      .join('staff as st', 'st.id', 'k.created_by')
      .joinRaw(q.sql, q.bindings)
      .joinRaw(KEY_SECRET_JOINS)
      .joinRaw(
        `left join lateral (select u0.last_used_at, u0.last_used_ip from api_key_secrets u0
          where u0.key_id = k.id and u0.last_used_at is not null order by u0.last_used_at desc limit 1) u on true`,
      )
      .whereNull('k.deleted_at')
      .select(
        'k.id',
        'k.facility_id',
        'k.name',
        'k.scopes',
        'k.location_ids',
        'k.created_at',
        'k.created_by',
        'st.name as created_by_name',
        'k.expires_at',
        db.raw(EFFECTIVE_RATE_LIMIT),
        's.hint',
        db.raw(`${refusalSql()} as refusal`),
        db.raw(`${refusalSql(PREVIOUS)} as previous_refusal`),
        'p.ends_at as previous_ends_at',
        'p.last_used_at as previous_last_used_at',
        'u.last_used_at',
        'u.last_used_ip',
        db.raw('(select count(*) from members m where m.created_by_key = k.id)::int as leads_created'),
        'k.revoked_at',
        'k.revoked_reason',
        'k.revoked_by_type',
        'k.revocation_details',
      );
  };

  const secretRow = (keyId: string, secret: NewSecret, endsAt: null) => ({
    token_hash: secret.tokenHash,
    key_id: keyId,
    hint: secret.secret.slice(-HINT_LENGTH),
    ends_at: endsAt,
  });

  return {
    /** Records a new key and its first secret. A live key of the facility whose name looks the same (see lookAlikeKey) violates LIVE_NAME_CONSTRAINT. */
    async insert(key: NewKey, secret: NewSecret): Promise<void> {
      await queryable(db)('api_keys').insert({
        id: key.id,
        facility_id: key.facilityId,
        name: key.name,
        // What makes names that look alike one name, for LIVE_NAME_CONSTRAINT.
        name_skeleton: lookAlikeKey(key.name),
        scopes: key.scopes,
        location_ids: key.locationIds,
        created_by: key.createdBy,
        expires_at: key.expiresAt,
        rate_limit: key.rateLimit?.limit ?? null,
        rate_window_seconds: key.rateLimit?.windowSeconds ?? null,
      });
      await queryable(db)('api_key_secrets').insert(secretRow(key.id, secret, null));
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

    /** The keys (of any facility) that own these secrets, by secret hash: how a report about secrets finds its keys. */
    async findBySecrets(tokenHashes: string[]): Promise<Map<string, { keyId: string; revokedReason: string | null }>> {
      if (tokenHashes.length === 0) return new Map();
      const rows = (await queryable(db)('api_key_secrets as s')
        .join('api_keys as k', 'k.id', 's.key_id')
        .whereIn('s.token_hash', tokenHashes)
        .select('s.token_hash', 'k.id', 'k.revoked_reason')) as { token_hash: string; id: string; revoked_reason: string | null }[];
      return new Map(rows.map((row) => [row.token_hash, { keyId: row.id, revokedReason: row.revoked_reason }]));
    },

    /** A key's name and the hint of its current (or last) secret, whatever its state: what a notice about it says. */
    async describe(keyId: string): Promise<{ id: string; name: string; hint: string | null; expiresAt: Date | null; facilityId: string } | undefined> {
      const row = (await queryable(db)('api_keys as k')
        .leftJoin(
          queryable(db)('api_key_secrets').select('key_id', 'hint').where({ key_id: keyId }).orderByRaw('ends_at desc nulls first').limit(1).as('s'),
          's.key_id',
          'k.id',
        )
        .where('k.id', keyId)
        .first('k.id', 'k.name', 's.hint', 'k.expires_at', 'k.facility_id')) as { id: string; name: string; hint: string | null; expires_at: Date | null; facility_id: string } | undefined;
      return row && { id: row.id, name: row.name, hint: row.hint === null ? null : `${KEY_PREFIX}…${row.hint}`, expiresAt: row.expires_at, facilityId: row.facility_id };
    },

    /**
     * The notices due of keys about to expire (7 days, then 1 day before),
     * each claimed once for every process (api_key_expiry_notices), in the
     * caller's transaction. A key closer than a day gets only the last one.
     */
    async claimExpiryNotices(): Promise<{ keyId: string; daysBefore: number }[]> {
      const { rows } = (await queryable(db).raw(
        `insert into api_key_expiry_notices (key_id, days_before)
         select k.id, v.days from api_keys k cross join (values (7), (1)) as v(days)
         where k.deleted_at is null and k.revoked_at is null
           and k.expires_at > now() and k.expires_at <= now() + v.days * interval '1 day'
           and (v.days = 1 or k.expires_at > now() + interval '1 day')
         on conflict do nothing
         returning key_id, days_before`,
      )) as { rows: { key_id: string; days_before: number }[] };
      return rows.map((row) => ({ keyId: row.key_id, daysBefore: row.days_before }));
    },

    /** The rate limit of the key that owns a secret (undefined for a secret that is not ours). */
    async ratePolicyOfSecret(tokenHash: string): Promise<SecretRatePolicy | undefined> {
      const row = (await queryable(db)('api_key_secrets as s')
        .join('api_keys as k', 'k.id', 's.key_id')
        .join('facilities as f', 'f.id', 'k.facility_id')
        .where('s.token_hash', tokenHash)
        .first('k.id as key_id', db.raw(EFFECTIVE_RATE_LIMIT))) as { key_id: string; rate_limit: number; rate_window_seconds: number } | undefined;
      return row && { keyId: row.key_id, limit: row.rate_limit, windowSeconds: row.rate_window_seconds };
    },

    /** How many undeleted keys, across facilities, the verifier refuses for `reason` (a configuration check at start). */
    async countRefused(requirement: Requirement, reason: Refusal): Promise<number> {
      const q = requirementRow(requirement);
      const row = (await queryable(db)('api_keys as k')
        .joinRaw(q.sql, q.bindings)
        .joinRaw(KEY_SECRET_JOINS)
        .whereNull('k.deleted_at')
        .whereRaw(`${refusalSql()} = ?`, [reason])
        .count('* as n')
        .first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },

    /**
     * Locks an undeleted key of the facility for a change of its secrets (in
     * the caller's transaction; concurrent rotations of one key take turns).
     * False when there is no such key. The lock is FOR NO KEY UPDATE: it does
     * not wait for the foreign-key checks of rows that point at the key (the
     * usage write adds its addresses while holding a secret's row), so a
     * rotation and a usage write never deadlock.
     */
    async lock(facilityId: string, id: string): Promise<boolean> {
      const row = await queryable(db)('api_keys').select('id').where({ id, facility_id: facilityId }).whereNull('deleted_at').forNoKeyUpdate().first();
      return row !== undefined;
    },

    /**
     * Ends the key's previous secrets that still work: at once (`endsAt`
     * omitted), so at most the current secret is left. Returns their hashes,
     * so the caller can destroy their tokens.
     */
    async endPreviousSecrets(keyId: string): Promise<string[]> {
      return queryable(db)('api_key_secrets')
        .where({ key_id: keyId })
        .where('ends_at', '>', db.raw('now()'))
        .update({ ends_at: db.raw('now()') })
        .returning('token_hash')
        .then((rows: { token_hash: string }[]) => rows.map((row) => row.token_hash));
    },

    /**
     * Makes `secret` the key's current secret; the one it replaces keeps
     * working for `graceSeconds` (0: stops at once). Returns the replaced
     * secret's hash and when it stops.
     */
    async replaceCurrentSecret(keyId: string, secret: NewSecret, graceSeconds: number): Promise<{ tokenHash: string; endsAt: Date } | undefined> {
      const [replaced] = (await queryable(db)('api_key_secrets')
        .where({ key_id: keyId })
        .whereNull('ends_at')
        .update({ ends_at: db.raw(`now() + (? * interval '1 second')`, [graceSeconds]) })
        .returning(['token_hash', 'ends_at'])) as { token_hash: string; ends_at: Date }[];
      await queryable(db)('api_key_secrets').insert(secretRow(keyId, secret, null));
      return replaced && { tokenHash: replaced.token_hash, endsAt: replaced.ends_at };
    },

    /**
     * Ends a key of the facility (any facility when `facilityId` is null, for
     * the operator): a delete tombstones it, a revocation marks it revoked.
     * Returns the key's name and facility and the hashes of its secrets (so
     * the caller can destroy their tokens in the same transaction), or
     * undefined when there is no such key to end (unknown, deleted, already
     * revoked when revoking, or another facility's).
     */
    async end(facilityId: string | null, id: string, ending: Ending): Promise<{ name: string; facilityId: string; tokenHashes: string[] } | undefined> {
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
      const [row] = (await query.update(changes).returning(['name', 'facility_id'])) as { name: string; facility_id: string }[];
      if (!row) return undefined;
      const tokenHashes: string[] = await queryable(db)('api_key_secrets').where({ key_id: id }).pluck('token_hash');
      return { name: row.name, facilityId: row.facility_id, tokenHashes };
    },
  };
}

export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
