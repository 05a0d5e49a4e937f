import { randomUUID } from 'node:crypto';

import type { Knex } from 'knex';
import type Provider from 'oidc-provider';

import type { Config } from '../config.js';
import { violatedConstraint } from '../db/constraints.js';
import { inTransaction } from '../db/transaction.js';
import { conflict, notFound, validationFailed } from '../http/errors.js';
import { destroyAccessTokenByHash } from '../oauth/adapter.js';
import { API_KEYS_CLIENT_ID } from '../oauth/clients.js';
import { hashToken } from '../oauth/token-hash.js';
import type { StaffMember } from '../staff/model.js';
import { generateKey } from './key-format.js';
import type { ApiKey } from './model.js';
import { audiencesFor } from './scopes.js';
import { LIVE_NAME_CONSTRAINT, type ApiKeyStore, type Ending } from './store.js';
import type { Requirement } from './verifier.js';

/**
 * Keys do not expire yet (the help page lists expiry for later). oidc-provider
 * needs a positive lifetime, so a key's token lives 100 years; `api_keys.expires_at`
 * stays empty until expiry becomes a product feature.
 */
export const KEY_LIFETIME_SECONDS = 100 * 365 * 24 * 60 * 60;

export interface ApiKeyServiceDeps {
  config: Config;
  db: Knex;
  provider: Provider;
  store: ApiKeyStore;
  /** What the list judges each key against (today every key is a Leads API key). */
  requirement: Requirement;
}

export function createApiKeyService(deps: ApiKeyServiceDeps) {
  const { config, db, provider, store, requirement } = deps;

  /**
   * Mints the key as an opaque access token through oidc-provider, with our
   * own value: the provider would set `format` itself when it generates the
   * id, so we set both. The adapter stores only the hash.
   */
  async function mint(key: string, input: { facilityId: string; keyId: string; scopes: string[]; audience: string }): Promise<void> {
    const client = await provider.Client.find(API_KEYS_CLIENT_ID);
    const scope = input.scopes.join(' ');
    const token = new provider.AccessToken({
      client,
      scope,
      resourceServer: { scope, audience: input.audience, accessTokenFormat: 'opaque' },
      expiresIn: KEY_LIFETIME_SECONDS,
      extra: { facility_id: input.facilityId, key_id: input.keyId },
    } as never);
    const mutable = token as unknown as { jti: string; format: string };
    mutable.jti = key;
    mutable.format = 'opaque';
    const saved = await token.save();
    if (saved !== key) throw new Error('oidc-provider did not keep the API key value; check the minting contract');
  }

  return {
    /**
     * Creates a key; answers it once. The key row and its token are written in
     * one transaction: a failure anywhere leaves nothing behind.
     */
    async create(staff: StaffMember, input: { name: string; scopes: string[] }): Promise<{ apiKey: ApiKey; key: string }> {
      const audiences = audiencesFor(config, input.scopes);
      if (audiences.length !== 1) {
        throw validationFailed([{ path: 'scopes', message: 'must all belong to one API' }]);
      }
      const key = generateKey();
      const keyId = randomUUID();
      try {
        const apiKey = await inTransaction(db, async () => {
          await store.insert({
            id: keyId,
            facilityId: staff.facilityId,
            name: input.name,
            scopes: input.scopes,
            tokenHash: hashToken(key),
            createdBy: staff.id,
          });
          await mint(key, { facilityId: staff.facilityId, keyId, scopes: input.scopes, audience: audiences[0]! });
          return store.find(staff.facilityId, keyId, requirement);
        });
        if (apiKey?.status !== 'active') throw new Error('a key just created is not live');
        return { apiKey, key };
      } catch (error) {
        if (violatedConstraint(error) === LIVE_NAME_CONSTRAINT) {
          throw conflict(`An API key named "${input.name}" already exists in this facility. Choose another name or delete that key first.`);
        }
        throw error;
      }
    },

    list(staff: StaffMember): Promise<ApiKey[]> {
      return store.list(staff.facilityId, requirement);
    },

    /**
     * Ends a key at once, the one way a key is deleted or revoked (by staff,
     * the operator or a leaked-key report): the key row's change and the
     * removal of every secret's token commit together, and every later check
     * reads the database, so once this returns no process accepts the key.
     * `facilityId` null (the operator) reaches any facility's key.
     */
    async end(target: { facilityId: string | null; id: string }, ending: Ending): Promise<void> {
      await inTransaction(db, async () => {
        const tokenHashes = await store.end(target.facilityId, target.id, ending);
        if (!tokenHashes) throw notFound('No API key with this id.');
        for (const tokenHash of tokenHashes) await destroyAccessTokenByHash(db, tokenHash);
      });
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
