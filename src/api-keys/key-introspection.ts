import { createHash, timingSafeEqual } from 'node:crypto';

import type { Context, Next } from 'koa';

import { readFormParams } from '../http/body.js';
import { API_KEYS_CLIENT_ID } from '../shared/clients.js';
import type { Requirement } from '../shared/requirement.js';
import { hashToken } from '../shared/token-hash.js';
import { isWellFormedKey } from './key-format.js';
import type { UsageTracker } from './usage.js';
import type { ApiKeyVerifier } from './verifier.js';

export const INTROSPECTION_PATH = '/oauth/token/introspection';

/** A resource server allowed to introspect: its credentials and what its API requires of a key. */
export interface ResourceServerClient {
  secret: string;
  requirement: Requirement;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** `Authorization: Basic` credentials (RFC 6749 2.3.1: each part form-urlencoded), or undefined. */
function basicCredentials(header: string): { id: string; secret: string } | undefined {
  if (!/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const part = (value: string) => decodeURIComponent(value.replace(/\+/g, '%20'));
    return { id: part(decoded.slice(0, colon)), secret: part(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

const INACTIVE = Object.freeze({ active: false });

function oauthError(ctx: Context, description: string): void {
  ctx.status = 400;
  ctx.body = { error: 'invalid_request', error_description: description };
}

/**
 * RFC 7662 introspection for resource-server clients, answered by the key
 * verifier. Mounted before oidc-provider: a request authenticated as a
 * configured resource server (HTTP Basic, as registered) is answered here,
 * in one database round trip; anything else (no or wrong credentials, other
 * clients) goes on to the provider, which answers it as before, and whose
 * own policy never calls an API key active.
 *
 * A resource server's API accepts nothing but API keys, so a token that is
 * not one is `active: false` without a look-up; a key is active exactly when
 * the verifier would let that API accept it.
 */
export function createKeyIntrospection(deps: { verifier: ApiKeyVerifier; clients: Map<string, ResourceServerClient>; issuer: string; usage: UsageTracker }) {
  const clients = new Map([...deps.clients].map(([id, client]) => [id, { ...client, secretDigest: digest(client.secret) }]));

  // Every other request passes by without an async function of its own (no promise made for it).
  return function introspectKeys(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== INTROSPECTION_PATH || ctx.method !== 'POST') return next();
    return introspect(ctx, next);
  };

  async function introspect(ctx: Context, next: Next): Promise<void> {
    const credentials = basicCredentials(ctx.get('Authorization'));
    const client = credentials && clients.get(credentials.id);
    if (!client || !timingSafeEqual(digest(credentials.secret), client.secretDigest)) return next();

    ctx.set('Cache-Control', 'no-store');
    // The content type's own prefix: a cheap test where a full media-type parse would cost more than the look-up.
    if (!ctx.get('Content-Type').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return oauthError(ctx, 'only application/x-www-form-urlencoded content-type bodies are supported');
    }
    const form = await readFormParams(ctx, 56 * 1024, { typeChecked: true });
    const tokens = form.getAll('token');
    if (tokens.length !== 1 || !tokens[0]) return oauthError(ctx, tokens.length > 1 ? "'token' parameter must not be provided twice" : "missing required parameter 'token'");
    const token = tokens[0];
    // Not an API key (a staff token, a mistyped key): nothing a resource server accepts, and no look-up.
    if (!isWellFormedKey(token)) {
      ctx.body = INACTIVE;
      return;
    }
    const tokenHash = hashToken(token);
    const verdict = await deps.verifier.verifyHash(tokenHash, client.requirement);
    if (!verdict.ok) {
      // A refused secret of a known key is that key's refused request; an unknown one names no key.
      if (verdict.keyId && verdict.reason !== 'malformed') deps.usage.refused(verdict.keyId, verdict.reason);
      ctx.body = INACTIVE;
      return;
    }
    // A resource server asking about a key is the key being used (from that server's address).
    deps.usage.record(tokenHash, ctx.ip);
    ctx.body = {
      active: true,
      client_id: API_KEYS_CLIENT_ID,
      scope: verdict.scopes.join(' '),
      aud: verdict.audience.length === 1 ? verdict.audience[0] : verdict.audience,
      iat: verdict.issuedAt,
      ...(verdict.expiresAt === undefined ? {} : { exp: verdict.expiresAt }),
      iss: deps.issuer,
      token_type: 'Bearer',
      facility_id: verdict.facilityId,
      key_id: verdict.keyId,
      ...(verdict.locationIds ? { location_ids: verdict.locationIds } : {}),
    };
  }
}
