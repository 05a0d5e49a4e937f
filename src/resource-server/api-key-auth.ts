import type { Context, Next } from 'koa';

import { isWellFormedKey } from '../api-keys/key-format.js';
import { bearerChallenge, extractBearer } from './bearer.js';
import type { Introspector } from './introspection.js';

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

const invalidToken = (description: string) => bearerChallenge({ realm: API_KEY_REALM, error: 'invalid_token', description });

/**
 * Authenticates an API key for one API: the Authorization header only; format
 * and checksum first (no database, no HTTP hop for a mistyped key); then
 * introspection, then audience, then scope. Answers RFC 6750 errors: 401
 * invalid_token, or 403 insufficient_scope naming the scope needed.
 */
export function createApiKeyAuthenticator(deps: { introspector: Introspector; audience: string; scope: string }) {
  return async function authenticateApiKey(ctx: Context, next: Next): Promise<void> {
    const token = extractBearer(ctx, API_KEY_REALM);
    if (!isWellFormedKey(token)) throw invalidToken('The API key is malformed.');
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
    (ctx.state as ApiKeyState).apiKey = { keyId, facilityId, scopes };
    await next();
  };
}
