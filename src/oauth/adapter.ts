import type { Knex } from 'knex';
import type { Adapter, AdapterPayload } from 'oidc-provider';

import { deleteInBatches } from '../db/housekeeping.js';
import { queryable } from '../db/transaction.js';
import { hashToken } from '../shared/token-hash.js';

/**
 * Models whose id is itself a bearer credential (a token, or a cookie's
 * value: the sign-in session and the interaction). Their id is stored only
 * as a SHA-256 hash, and `jti` is removed from the stored payload and put
 * back on find, so a database dump holds no usable token or cookie. A
 * session found by its uid (not its id) comes back without `jti`: the
 * provider only reads those, it never saves them. (DeviceCode is looked up
 * by user code and keeps its jti; the device flow is off.)
 */
export const HASHED_MODELS = new Set([
  'AccessToken',
  'RefreshToken',
  'AuthorizationCode',
  'ClientCredentials',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'Session',
  'Interaction',
]);

const TABLE = 'oidc_payloads';

/** Rows not yet expired (no expiry, or one still ahead). */
function notExpired(db: Knex) {
  return (query: Knex.QueryBuilder) => query.whereNull('expires_at').orWhere('expires_at', '>', db.fn.now());
}

interface PayloadRow {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/**
 * jsonb cannot hold U+0000, and request parameters the provider keeps (an
 * authorization request's `state`, say) are whatever a caller sent: NUL
 * becomes U+FFFD, the replacement character, instead of a failed write.
 */
function withoutNul(_key: string, value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}

/** Postgres text cannot hold NUL: a lookup value with one names no row (and must not reach the database). */
function storable(value: string): boolean {
  return !value.includes('\u0000');
}

function epoch(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * The oidc-provider adapter over knex: one table for every model. Queries go
 * through `queryable(db)` so a token minted inside `inTransaction` commits or
 * rolls back with the rest of that transaction.
 */
export function createKnexAdapter(db: Knex, options: { isApiKey?: (value: string) => boolean } = {}) {
  const isApiKey = options.isApiKey ?? (() => false);
  return class KnexAdapter implements Adapter {
    private readonly hashed: boolean;

    constructor(private readonly model: string) {
      this.hashed = HASHED_MODELS.has(model);
    }

    /** The stored id for a provider id (hashed for token-like models). */
    storedId(id: string): string {
      return this.hashed ? hashToken(id) : id;
    }

    private rows() {
      return queryable(db)(TABLE).where({ model: this.model });
    }

    private live() {
      return this.rows().where(notExpired(db));
    }

    private toPayload(row: PayloadRow | undefined, id?: string): AdapterPayload | undefined {
      if (!row) return undefined;
      const payload: AdapterPayload = { ...row.payload };
      if (this.hashed && id !== undefined) payload.jti = id;
      if (row.consumed_at) payload.consumed = epoch(row.consumed_at);
      return payload;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const stored: AdapterPayload = { ...payload };
      if (this.hashed) delete stored.jti;
      const expiresAt =
        typeof expiresIn === 'number' ? db.raw(`now() + (? * interval '1 second')`, [expiresIn]) : null;
      const row = {
        model: this.model,
        id: this.storedId(id),
        payload: JSON.stringify(stored, withoutNul),
        grant_id: payload.grantId ?? null,
        uid: payload.uid ?? null,
        user_code: payload.userCode ?? null,
        expires_at: expiresAt,
      };
      await queryable(db)(TABLE)
        .insert(row)
        .onConflict(['model', 'id'])
        .merge(['payload', 'grant_id', 'uid', 'user_code', 'expires_at']);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      // API keys (and anything shaped like one) are the key verifier's alone: oidc-provider never
      // finds one, so no provider endpoint (userinfo, revocation, introspection) can answer for a key.
      if (this.hashed && isApiKey(id)) return undefined;
      if (!this.hashed && !storable(id)) return undefined;
      const row = await this.live().select('payload', 'consumed_at').where({ id: this.storedId(id) }).first();
      return this.toPayload(row as PayloadRow | undefined, id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (!storable(uid)) return undefined;
      const row = await this.live().select('payload', 'consumed_at').where({ uid }).first();
      return this.toPayload(row as PayloadRow | undefined);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (!storable(userCode)) return undefined;
      const row = await this.live().select('payload', 'consumed_at').where({ user_code: userCode }).first();
      return this.toPayload(row as PayloadRow | undefined);
    }

    async consume(id: string): Promise<void> {
      await this.rows().where({ id: this.storedId(id) }).update({ consumed_at: db.fn.now() });
    }

    async destroy(id: string): Promise<void> {
      await this.rows().where({ id: this.storedId(id) }).delete();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await this.rows().where({ grant_id: grantId }).delete();
    }
  };
}

/** Deletes payloads (tokens, codes, sessions, interactions) that expired more than a minute ago, in bounded batches. */
export async function deleteExpiredPayloads(db: Knex, batchSize = 1000): Promise<number> {
  return deleteInBatches(batchSize, () =>
    db(TABLE)
      .whereIn(['model', 'id'], db(TABLE).select('model', 'id').where('expires_at', '<', db.raw(`now() - interval '1 minute'`)).limit(batchSize))
      .delete(),
  );
}

/** Destroys an access token by the hash of its value (for API keys, whose value is never kept). */
export async function destroyAccessTokenByHash(db: Knex, tokenHash: string): Promise<number> {
  return queryable(db)(TABLE).where({ model: 'AccessToken', id: tokenHash }).delete();
}

/** Makes an access token expire at `at` at the latest (a rotated-out key secret's token goes with its grace period). */
export async function expireAccessTokenByHash(db: Knex, tokenHash: string, at: Date): Promise<void> {
  await queryable(db)(TABLE)
    .where({ model: 'AccessToken', id: tokenHash })
    .update({ expires_at: db.raw('least(expires_at, ?::timestamptz)', [at]) });
}
