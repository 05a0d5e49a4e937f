import type { SecurityKind } from '../http/answers.js';
import type { AnyRoute, RouteResponse } from '../http/route.js';

/** The scopes a key route requires (`requires: { scope }`), any one of which will do. */
function scopesOf(route: AnyRoute): string[] {
  const scope = (route.requires as { scope?: string | string[] } | undefined)?.scope;
  return scope === undefined ? [] : Array.isArray(scope) ? scope : [scope];
}

/**
 * What a route that takes an API key (`apiKey`, `apiKeyInWrite`) may answer
 * because of it, as api-key-auth.ts answers: RFC 6750's 401 and 403 for a
 * missing scope, the key's rate limit (429, and the RateLimit headers on any
 * answer), and for an operation that places what it makes (`places`) the
 * key's locations (400, 403 naming `locationId`).
 */
export const apiKeySecurity: SecurityKind = {
  scheme: { name: 'apiKey', definition: { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer oct_pat_...`.' } },
  scopes: scopesOf,
  answers(route) {
    const places = route.security === 'apiKeyInWrite' && (route.requires as { places?: boolean } | undefined)?.places === true;
    const located: Record<number, RouteResponse> = places ? { 400: { description: '`locationId` is required: the API key is limited to several locations.' } } : {};
    const scope = `The API key lacks the ${scopesOf(route).join(' or ')} scope (\`error="insufficient_scope"\`).`;
    return {
      headers: { RateLimit: 'sometimes', 'RateLimit-Policy': 'sometimes' },
      responses: {
        ...located,
        401: {
          description: 'No API key, or one that is malformed, unknown, deleted, expired or rotated out (`WWW-Authenticate` says which). Refused keys count against the caller\'s address.',
          headers: { 'WWW-Authenticate': 'always' },
        },
        403: places
          ? { description: `${scope} Or: the API key is limited to other locations than \`locationId\` (\`errors\` names it).`, headers: { 'WWW-Authenticate': 'sometimes' } }
          : { description: scope, headers: { 'WWW-Authenticate': 'always' } },
        429: {
          description: 'Past the API key\'s rate limit, or too many refused keys came from this address: retry after `Retry-After` seconds.',
          headers: { 'Retry-After': 'always' },
        },
      },
    };
  },
};
