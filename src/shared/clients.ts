/**
 * Names several layers share (the provider, the key verifier, the resource
 * servers, the console): a leaf module, importing nothing of ours.
 */

/** The web console and the Octiv app: a public client (authorization code + PKCE). */
export const OCTIV_APP_CLIENT_ID = 'octiv-app';

/**
 * The client that owns API keys. It has no grant types and no secret, so no
 * flow can use it; it exists because every token must name a client.
 */
export const API_KEYS_CLIENT_ID = 'octiv-api-keys';

/** First-party clients skip the consent screen. */
export const FIRST_PARTY_CLIENTS: ReadonlySet<string> = new Set([OCTIV_APP_CLIENT_ID]);

/** The admin API's only scope; resource scopes stay out of the provider's `scopes` list. */
export const ADMIN_SCOPE = 'admin';

/** A token's `aud` (one string, a list, or absent) as a list. */
export function audienceList(aud: string | readonly string[] | undefined | null): string[] {
  if (!aud) return [];
  return typeof aud === 'string' ? [aud] : [...aud];
}
