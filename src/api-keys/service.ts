import { randomUUID } from 'node:crypto';

import type { Knex } from 'knex';
import type Provider from 'oidc-provider';

import type { AuditAction, RequestOrigin } from '../audit/model.js';
import { staffActor, type AuditLog } from '../audit/service.js';
import type { Config } from '../config.js';
import { violatedConstraint } from '../db/constraints.js';
import { inTransaction } from '../db/transaction.js';
import type { FacilityStore, KeyPolicy, RateLimit } from '../facilities/store.js';
import { conflict, notFound, validationFailed, type AppError } from '../http/errors.js';
import { lookAlikeKey } from '../http/look-alikes.js';
import { destroyAccessTokenByHash, expireAccessTokenByHash } from '../oauth/adapter.js';
import { API_KEYS_CLIENT_ID } from '../shared/clients.js';
import { hashToken } from '../shared/token-hash.js';
import type { StaffMember } from '../staff/model.js';
import { generateKey } from './key-format.js';
import type { ApiKey, UsageDay } from './model.js';
import { audiencesFor } from './scopes.js';
import { LIVE_NAME_CONSTRAINT, type ApiKeyStore, type Ending, type NewSecret } from './store.js';
import { lastDays } from './usage-counts.js';
import type { StoredCount, UsageStore } from './usage-store.js';
import type { Requirement } from './verifier.js';

/**
 * oidc-provider needs a positive lifetime for every token: a key that does
 * not expire gets a token that lives 100 years. A key that expires gets a
 * token that expires with it.
 */
export const KEY_LIFETIME_SECONDS = 100 * 365 * 24 * 60 * 60;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CreateKeyInput {
  name: string;
  scopes: string[];
  /** An RFC 3339 time, null for no expiry, or undefined for the facility's default. */
  expiresAt?: string | null;
  /** Null or undefined: the facility's default. */
  rateLimit?: RateLimit | null;
  /** Null or undefined: every location of the facility. */
  locationIds?: string[] | null;
}

/** A staff member acting through a request. */
export interface Caller {
  staff: StaffMember;
  origin: RequestOrigin;
}

/** How a key ends, and where the request that ended it came from. */
export type KeyEnding = Ending & { origin: RequestOrigin };

export interface ApiKeyServiceDeps {
  config: Config;
  db: Knex;
  /** Mints secrets; the operator's command line, which only ends keys, runs without it. */
  provider?: Provider;
  store: ApiKeyStore;
  /** Each key's requests per day (and leads per day, read from the members). */
  usage: UsageStore;
  facilities: FacilityStore;
  audit: AuditLog;
  /** What the list judges each key against (today every key is a Leads API key). */
  requirement: Requirement;
}

/**
 * When a new key expires under the facility's policy: the time asked for,
 * if it lies in the future and within the maximum lifetime; the maximum
 * lifetime when none was asked for; never, when asked and allowed. Anything
 * else is a 400 naming `expiresAt`.
 */
export function resolveExpiry(asked: string | null | undefined, policy: KeyPolicy, now = new Date()): Date | null {
  const max = policy.maxLifetimeDays;
  const latest = max === null ? undefined : new Date(now.getTime() + max * DAY_MS);
  const refuse = (message: string) => validationFailed([{ path: 'expiresAt', message }]);
  if (asked === undefined) return latest ?? null;
  if (asked === null) {
    if (latest) throw refuse(`must be a date: this facility's keys expire within ${max} days`);
    return null;
  }
  const at = new Date(asked);
  if (at.getTime() <= now.getTime()) throw refuse('must be in the future');
  if (latest && at.getTime() > latest.getTime()) throw refuse(`must be at most ${max} days from now (the facility's maximum key lifetime)`);
  return at;
}

/** Each day of `dates` with its counts and leads; a day nothing happened on is all zeros. */
export function usageDays(dates: string[], counts: StoredCount[], leads: Map<string, number>): UsageDay[] {
  const byDate = new Map(dates.map((date) => [date, { date, leadsCreated: leads.get(date) ?? 0, requests: 0, refused: {} } as UsageDay]));
  for (const count of counts) {
    const day = byDate.get(count.day);
    if (!day) continue;
    day.requests += count.requests;
    if (count.outcome !== 'accepted') day.refused[count.outcome] = (day.refused[count.outcome] ?? 0) + count.requests;
  }
  return [...byDate.values()];
}

export function createApiKeyService(deps: ApiKeyServiceDeps) {
  const { config, db, provider, store, facilities, audit, requirement } = deps;

  /** Records what a staff member did to a key, in the change's transaction. */
  const recordByStaff = (caller: Caller, action: AuditAction, key: { id: string; name: string }, details?: Record<string, unknown>) =>
    audit.record({
      facilityId: caller.staff.facilityId,
      action,
      actor: staffActor(caller.staff),
      target: { type: 'api_key', id: key.id, name: key.name },
      origin: caller.origin,
      ...(details ? { details } : {}),
    });

  /**
   * Mints a secret as an opaque access token through oidc-provider, with our
   * own value: the provider would set `format` itself when it generates the
   * id, so we set both. The adapter stores only the hash. The token expires
   * with the key.
   */
  async function mint(secret: string, input: { facilityId: string; keyId: string; scopes: string[]; expiresAt: Date | null }): Promise<void> {
    const audiences = audiencesFor(config, input.scopes);
    if (audiences.length !== 1) throw validationFailed([{ path: 'scopes', message: 'must all belong to one API' }]);
    if (!provider) throw new Error('minting a key needs oidc-provider');
    const client = await provider.Client.find(API_KEYS_CLIENT_ID);
    const scope = input.scopes.join(' ');
    const token = new provider.AccessToken({
      client,
      scope,
      resourceServer: { scope, audience: audiences[0], accessTokenFormat: 'opaque' },
      expiresIn: input.expiresAt ? Math.max(1, Math.ceil((input.expiresAt.getTime() - Date.now()) / 1000)) : KEY_LIFETIME_SECONDS,
      extra: { facility_id: input.facilityId, key_id: input.keyId },
    } as never);
    const mutable = token as unknown as { jti: string; format: string };
    mutable.jti = secret;
    mutable.format = 'opaque';
    const saved = await token.save();
    if (saved !== secret) throw new Error('oidc-provider did not keep the API key value; check the minting contract');
  }

  /** The locations asked for, when every one is the facility's own (else a 400 naming each that is not). */
  async function ownLocations(facilityId: string, asked: string[] | null): Promise<string[] | null> {
    if (asked === null) return null;
    const own = new Set((await facilities.locations(facilityId)).map((location) => location.id));
    const foreign = asked.flatMap((id, index) => (own.has(id) ? [] : [{ path: `locationIds.${index}`, message: 'is not a location of this facility (see GET /api/v1/locations)' }]));
    if (foreign.length > 0) throw validationFailed(foreign);
    return asked;
  }

  /** A new secret: the value (shown once) and what is stored of it. */
  function newSecret(): NewSecret {
    const secret = generateKey();
    return { secret, tokenHash: hashToken(secret) };
  }

  async function findOrThrow(staff: { facilityId: string }, id: string): Promise<ApiKey> {
    const apiKey = await store.find(staff.facilityId, id, requirement);
    if (!apiKey) throw notFound('No API key with this id.');
    return apiKey;
  }

  /** The 409 for a name a live key of the facility has, or one that looks the same (saying which, when it is not the same). */
  async function nameTaken(facilityId: string, name: string): Promise<AppError> {
    const key = lookAlikeKey(name);
    const taken = (await store.list(facilityId, requirement)).find((apiKey) => lookAlikeKey(apiKey.name) === key);
    const alike = taken && taken.name.toLowerCase() !== name.toLowerCase() ? ` under the name "${taken.name}", which looks the same` : '';
    return conflict(`An API key named "${name}" already exists in this facility${alike}. Choose another name or delete that key first.`);
  }

  return {
    /**
     * Creates a key; answers its secret once. The key row, its secret and
     * the secret's token are written in one transaction: a failure anywhere
     * leaves nothing behind.
     */
    async create(caller: Caller, input: CreateKeyInput): Promise<{ apiKey: ApiKey; key: string }> {
      const { staff } = caller;
      const expiresAt = resolveExpiry(input.expiresAt, await facilities.keyPolicy(staff.facilityId));
      const locationIds = await ownLocations(staff.facilityId, input.locationIds ?? null);
      const secret = newSecret();
      const keyId = randomUUID();
      try {
        const apiKey = await inTransaction(db, async () => {
          await store.insert(
            { id: keyId, facilityId: staff.facilityId, name: input.name, scopes: input.scopes, locationIds, expiresAt, rateLimit: input.rateLimit ?? null, createdBy: staff.id },
            secret,
          );
          await mint(secret.secret, { facilityId: staff.facilityId, keyId, scopes: input.scopes, expiresAt });
          const created = await store.find(staff.facilityId, keyId, requirement);
          if (created) {
            await recordByStaff(caller, 'api_key.created', created, {
              scopes: created.scopes,
              locationIds: created.locationIds,
              expiresAt: created.expiresAt?.toISOString() ?? null,
              rateLimit: input.rateLimit ?? null,
            });
          }
          return created;
        });
        if (apiKey?.status !== 'active') throw new Error('a key just created is not live');
        return { apiKey, key: secret.secret };
      } catch (error) {
        if (violatedConstraint(error) === LIVE_NAME_CONSTRAINT) throw await nameTaken(staff.facilityId, input.name);
        throw error;
      }
    },

    list(caller: Caller): Promise<ApiKey[]> {
      return store.list(caller.staff.facilityId, requirement);
    },

    get: (caller: Caller, id: string) => findOrThrow(caller.staff, id),

    /**
     * A key's use over the last `days` UTC days (today included), oldest
     * first, every day present: requests and refusals as every process
     * counted them (up to a flush interval behind), leads from the members
     * the key created. Another facility's or a deleted key is 404.
     */
    async usage(caller: Caller, id: string, days: number): Promise<UsageDay[]> {
      await findOrThrow(caller.staff, id);
      const dates = lastDays(days);
      const from = dates[0]!;
      const to = dates[dates.length - 1]!;
      const [counts, leads] = await Promise.all([deps.usage.countsBetween(id, from, to), deps.usage.leadsBetween(id, from, to)]);
      return usageDays(dates, counts, leads);
    },

    /**
     * Rotates a key: a new secret, shown once, for the same key (id, name,
     * scopes, expiry, limits). The secret it replaces keeps working for
     * `graceSeconds` (0: it stops at once); an older one still in its grace
     * period stops at once, so a key never has more than two live secrets.
     * An expired, revoked or otherwise refused key cannot be rotated (409).
     */
    async rotate(caller: Caller, id: string, graceSeconds: number): Promise<{ apiKey: ApiKey; key: string }> {
      const { staff } = caller;
      const secret = newSecret();
      const apiKey = await inTransaction(db, async () => {
        if (!(await store.lock(staff.facilityId, id))) throw notFound('No API key with this id.');
        const current = await findOrThrow(staff, id);
        if (current.status !== 'active' && current.status !== 'rotating') {
          throw conflict(`This key is ${current.status} and cannot be rotated. Create a new key instead.`);
        }
        for (const tokenHash of await store.endPreviousSecrets(id)) await destroyAccessTokenByHash(db, tokenHash);
        const replaced = await store.replaceCurrentSecret(id, secret, graceSeconds);
        // The replaced secret's token expires with its grace period (housekeeping removes it afterwards).
        if (replaced) await expireAccessTokenByHash(db, replaced.tokenHash, replaced.endsAt);
        await mint(secret.secret, { facilityId: staff.facilityId, keyId: id, scopes: current.scopes, expiresAt: current.expiresAt });
        await recordByStaff(caller, 'api_key.rotated', current, { graceSeconds, previousExpiresAt: replaced?.endsAt.toISOString() ?? null });
        return findOrThrow(staff, id);
      });
      return { apiKey, key: secret.secret };
    },

    /** Ends a rotation's grace period now: the previous secret stops working at once. 404 when no rotation is in progress. */
    async endGrace(caller: Caller, id: string): Promise<void> {
      await inTransaction(db, async () => {
        if (!(await store.lock(caller.staff.facilityId, id))) throw notFound('No API key with this id.');
        const ended = await store.endPreviousSecrets(id);
        if (ended.length === 0) throw notFound('This key has no rotation in progress: its previous secret has already stopped working.');
        for (const tokenHash of ended) await destroyAccessTokenByHash(db, tokenHash);
        await recordByStaff(caller, 'api_key.previous_revoked', await findOrThrow(caller.staff, id));
      });
    },

    /**
     * Ends a key at once, the one way a key is deleted or revoked (by staff,
     * the operator or a leaked-key report): the key row's change and the
     * removal of every secret's token commit together, and every later check
     * reads the database, so once this returns no process accepts the key.
     * `facilityId` null (the operator) reaches any facility's key.
     */
    async end(target: { facilityId: string | null; id: string }, ending: KeyEnding): Promise<void> {
      await inTransaction(db, async () => {
        const ended = await store.end(target.facilityId, target.id, ending);
        if (!ended) throw notFound('No API key with this id.');
        for (const tokenHash of ended.tokenHashes) await destroyAccessTokenByHash(db, tokenHash);
        await audit.record({
          facilityId: ended.facilityId,
          action: ending.kind === 'deleted' ? 'api_key.deleted' : ending.actor.type === 'secret-scanning' ? 'api_key.revoked_leaked' : 'api_key.revoked',
          actor: ending.actor,
          target: { type: 'api_key', id: target.id, name: ended.name },
          origin: ending.origin,
          details: { reason: ending.reason, ...ending.details },
        });
      });
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
