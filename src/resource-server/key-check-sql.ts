import { API_KEYS_CLIENT_ID } from '../oauth/clients.js';

/** What a write needs to check an API key in the same statement. */
export interface ApiKeyCheck {
  /** SHA-256 of the key, as the adapter stores the token id and api_keys.token_hash. */
  tokenHash: string;
  audience: string;
  scope: string;
}

/**
 * The in-process introspector's rules for an API key, as one SQL row source
 * of `(key_id, facility_id)`: a row only for a listed, undeleted key whose
 * token is stored, unexpired, unconsumed, grant-less, minted by the API-keys
 * client for this audience, with this scope, and naming this very key and
 * facility. A write that selects from it writes only for a live key, in the
 * same statement (and the same snapshot) as the check.
 *
 * `aud` may be one string or a list: jsonb `@>` with a string on the right
 * matches both (the string itself, or a list holding it).
 *
 * It must never accept a key the introspector refuses: it is stricter on
 * purpose (no grant, the key's own row too), and a caller that gets no row
 * falls back to the introspector for the exact answer. The resource-server
 * contract suite runs against this path as its own mode.
 */
export const LIVE_API_KEY_SQL = `select k.id as key_id, k.facility_id
  from api_keys k
  join oidc_payloads t on t.model = 'AccessToken' and t.id = k.token_hash
  where k.token_hash = ?
    and k.deleted_at is null
    and (k.expires_at is null or k.expires_at > now())
    and (t.expires_at is null or t.expires_at > now())
    and (t.payload->>'exp')::bigint > extract(epoch from now())
    and t.consumed_at is null
    and t.grant_id is null
    and t.payload->>'clientId' = ?
    and t.payload->'aud' @> to_jsonb(?::text)
    and ? = any(string_to_array(t.payload->>'scope', ' '))
    and t.payload->'extra'->>'key_id' = k.id::text
    and t.payload->'extra'->>'facility_id' = k.facility_id::text`;

/** The bindings of LIVE_API_KEY_SQL, in order. */
export function liveApiKeyBindings(check: ApiKeyCheck): string[] {
  return [check.tokenHash, API_KEYS_CLIENT_ID, check.audience, check.scope];
}
