import type { Context, Next } from 'koa';

import { isWellFormedKey } from '../api-keys/key-format.js';
import { hashToken } from '../oauth/token-hash.js';
import { bearerChallenge, extractBearer } from './bearer.js';
import type { Introspector } from './introspection.js';
import type { ApiKeyCheck } from './key-check-sql.js';

export const API_KEY_REALM = 'api';

/** The API key a request was authenticated with: whose it is and what it may do. */
export interface ApiKeyPrincipal {
  keyId: string;
  facilityId: string;
  scopes: string[];
}

export interface ApiKeyState {
  apiKey: ApiKeyPrincipal;
}

/**
 * A well-formed key not yet checked against the database, on routes that
 * check it inside their own write (see `checkInWrite`). `authenticate()` is
 * the full check (introspection): call it whenever that write did not happen,
 * and before answering any other error, so a bad key always gets its 401/403.
 */
export interface PendingApiKey {
  check: ApiKeyCheck;
  authenticate(): Promise<ApiKeyPrincipal>;
}

export interface PendingApiKeyState {
  pendingApiKey?: PendingApiKey;
}

const invalidToken = (description: string) => bearerChallenge({ realm: API_KEY_REALM, error: 'invalid_token', description });

/**
 * Authenticates an API key for one API: the Authorization header only; format
 * and checksum first (no database, no HTTP hop for a mistyped key); then
 * introspection, then audience, then scope. Answers RFC 6750 errors: 401
 * invalid_token, or 403 insufficient_scope naming the scope needed.
 */
export function createApiKeyAuthenticator(deps: { introspector: Introspector; audience: string; scope: string }) {
  function wellFormedKey(ctx: Context): string {
    const token = extractBearer(ctx, API_KEY_REALM);
    if (!isWellFormedKey(token)) throw invalidToken('The API key is malformed.');
    return token;
  }

  async function authenticate(token: string): Promise<ApiKeyPrincipal> {
    const result = await deps.introspector.introspect(token);
    if (!result.active) throw invalidToken('The API key is unknown, deleted or expired.');
    const facilityId = result.extra.facility_id;
    const keyId = result.extra.key_id;
    // A staff login token, or a key for another API, is not a key for this one.
    if (!result.aud.includes(deps.audience) || typeof facilityId !== 'string' || typeof keyId !== 'string') {
      throw invalidToken('This token is not an API key for this API.');
    }
    const scopes = result.scope.split(' ').filter(Boolean);
    if (!scopes.includes(deps.scope)) {
      throw bearerChallenge({
        realm: API_KEY_REALM,
        error: 'insufficient_scope',
        scope: deps.scope,
        description: `This API key lacks the ${deps.scope} scope.`,
      });
    }
    return { keyId, facilityId, scopes };
  }

  return {
    /** Checks the key before the route runs. */
    async checkFirst(ctx: Context, next: Next): Promise<void> {
      (ctx.state as ApiKeyState).apiKey = await authenticate(wellFormedKey(ctx));
      await next();
    },

    /**
     * Checks the format now and leaves the database check to the route's
     * write, which runs it in the same statement (one round trip instead of
     * two); `pendingApiKey.authenticate()` gives the exact answer otherwise.
     * Only for an in-process introspector: the SQL check reads the same tables.
     */
    async checkInWrite(ctx: Context, next: Next): Promise<void> {
      const token = wellFormedKey(ctx);
      let principal: Promise<ApiKeyPrincipal> | undefined;
      (ctx.state as PendingApiKeyState).pendingApiKey = {
        check: { tokenHash: hashToken(token), audience: deps.audience, scope: deps.scope },
        authenticate: () => {
          principal ??= authenticate(token).then((apiKey) => ((ctx.state as ApiKeyState).apiKey = apiKey));
          return principal;
        },
      };
      await next();
    },
  };
}
