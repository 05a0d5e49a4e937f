import type Provider from 'oidc-provider';

import { audienceList } from '../shared/clients.js';

/** What a resource server learns about a token; `active: false` says nothing more. */
export type Introspection =
  | { active: false }
  | {
      active: true;
      scope: string;
      clientId: string;
      aud: string[];
      iat: number;
      exp: number | undefined;
      /** The staff member (account) a login token belongs to; absent for API keys. */
      sub: string | undefined;
      /** Claims the server added at minting (`facility_id`, `key_id` for API keys). */
      extra: Record<string, unknown>;
    };

/** Answers "is this token live, and what may it do?" (RFC 7662 semantics). */
export interface Introspector {
  introspect(token: string): Promise<Introspection>;
}

export const INACTIVE: Introspection = { active: false };


/**
 * The in-process introspector: the same checks as the provider's
 * /token/introspection (stored, not expired, not consumed, grant still
 * present), without an HTTP hop. Every call reads the database: no cache can
 * keep a deleted key alive.
 */
export function createLocalIntrospector(provider: Provider): Introspector {
  return {
    async introspect(token) {
      const accessToken = await provider.AccessToken.find(token);
      if (!accessToken?.isValid) return INACTIVE;
      if (accessToken.grantId) {
        const grant = await provider.Grant.find(accessToken.grantId, { ignoreExpiration: true });
        if (!grant || grant.isExpired || grant.clientId !== accessToken.clientId || grant.accountId !== accessToken.accountId) {
          return INACTIVE;
        }
      }
      return {
        active: true,
        scope: accessToken.scope ?? '',
        clientId: accessToken.clientId ?? '',
        aud: audienceList(accessToken.aud as string | string[] | undefined),
        iat: accessToken.iat ?? 0,
        exp: accessToken.exp,
        sub: accessToken.accountId,
        extra: { ...((accessToken as { extra?: Record<string, unknown> }).extra ?? {}) },
      };
    },
  };
}

/** True when the introspection grants every scope in `required` for `audience`. */
export function allows(result: Introspection, audience: string, required: string): boolean {
  return result.active && result.aud.includes(audience) && result.scope.split(' ').includes(required);
}
