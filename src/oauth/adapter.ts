import type { Knex } from 'knex';
import type { Adapter, AdapterPayload } from 'oidc-provider';

import { deleteInBatches } from '../db/housekeeping.js';
import { queryable } from '../db/transaction.js';
import { hashToken } from '../shared/token-hash.js';
import { isSealed, seal, unseal } from '../shared/sealed.js';

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

/**
 * What a payload must not hold in clear, by model, at a dotted path (from
 * oidc-provider 9's own code: lib/models/interaction.js, and where the
 * values are read, lib/provider.js, lib/actions/authorization/resume.js
 * and lib/actions/end_session.js):
 * - dropped, for what the provider never reads back: `Interaction.session.cookie`
 *   is the sign-in session's id, the `_session` cookie's value, copied in
 *   when a signed-in browser starts an interaction (prompt=login, max_age=0,
 *   prompt=consent). The interaction names its session by `session.uid`,
 *   which is what the provider checks.
 * - sealed (AES-256-GCM under a key derived from the cookie keys), for what
 *   the provider reads back: `Interaction.returnTo` ends in the interaction's
 *   uid (its cookies' value, stored as its id only hashed); `Session.state`
 *   holds the sign-out form's xsrf secret and where sign-out returns to,
 *   which is such a /oauth/auth/<uid> when signing in as another account
 *   first signs the old one out.
 * A value stored in clear before this rule is read as it is, and goes with
 * its row (an interaction lives an hour; a session's state is written
 * sealed at its next save).
 */
const AT_REST: Record<string, { dropped?: string[][]; sealed?: string[][] }> = {
  Interaction: { dropped: [['session', 'cookie']], sealed: [['returnTo']] },
  Session: { sealed: [['state']] },
};

type Json = Record<string, unknown>;

/** A copy of `object` with the value at `path` changed by `change` (only the objects on the path are copied); absent values stay absent. */
function changedAt(object: Json, path: string[], change: (value: unknown) => unknown): Json {
  const [head, ...rest] = path as [string, ...string[]];
  const value = object[head];
  if (value === undefined || value === null) return object;
  if (rest.length === 0) return { ...object, [head]: change(value) };
  return typeof value === 'object' ? { ...object, [head]: changedAt(value as Json, rest, change) } : object;
}

/** The payload as stored: without what AT_REST drops, sealed where it says. */
function protect(model: string, payload: AdapterPayload, key: Buffer): AdapterPayload {
  const rules = AT_REST[model];
  if (!rules) return payload;
  let stored = payload as Json;
  for (const path of rules.dropped ?? []) stored = changedAt(stored, path, () => undefined);
  for (const path of rules.sealed ?? []) stored = changedAt(stored, path, (value) => seal(value, key));
  return stored as AdapterPayload;
}

/** The payload as the provider reads it: sealed values opened (throws when no key opens one). */
function reveal(model: string, stored: AdapterPayload, keys: Buffer[]): AdapterPayload {
  let payload = stored as Json;
  for (const path of AT_REST[model]?.sealed ?? []) payload = changedAt(payload, path, (value) => (isSealed(value) ? unseal(value, keys) : value));
  return payload as AdapterPayload;
}

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
 * rolls back with the rest of that transaction. `sealKeys` seal what AT_REST
 * says (the first seals; any of them opens).
 */
export function createKnexAdapter(db: Knex, options: { sealKeys: Buffer[]; isApiKey?: (value: string) => boolean }) {
  const isApiKey = options.isApiKey ?? (() => false);
  const [sealKey] = options.sealKeys;
  if (!sealKey) throw new Error('the adapter needs a key to seal stored sessions and interactions');
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
      let payload: AdapterPayload;
      try {
        payload = { ...reveal(this.model, row.payload, options.sealKeys) };
      } catch {
        // Sealed under a cookie key no longer listed (or altered): as good as gone.
        return undefined;
      }
      if (this.hashed && id !== undefined) payload.jti = id;
      if (row.consumed_at) payload.consumed = epoch(row.consumed_at);
      return payload;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const stored: AdapterPayload = { ...protect(this.model, payload, sealKey) };
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
