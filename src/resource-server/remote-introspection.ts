import { z } from 'zod';

import type { LiveKey } from '../api-keys/verifier.js';
import { serviceUnavailable } from '../http/errors.js';
import { audienceList } from '../shared/clients.js';

/** What RFC 7662 says of a presented key: inactive (nothing more), or the live key. */
export type RemoteIntrospection = { active: false } | { active: true; key: LiveKey };

export interface RemoteIntrospector {
  introspect(token: string): Promise<RemoteIntrospection>;
}

const responseSchema = z.looseObject({
  active: z.boolean(),
  scope: z.string().optional(),
  client_id: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  iat: z.number().optional(),
  exp: z.number().optional(),
  sub: z.string().optional(),
  key_id: z.string().optional(),
  facility_id: z.string().optional(),
  location_ids: z.array(z.string()).optional(),
});

/**
 * The remote introspector: RFC 7662 over HTTP with client authentication
 * (HTTP Basic), for a Leads API deployed apart from the authorization server.
 * The authorization server's verifier decides (it answers `active: false` for
 * any key this API would refuse); this side only reads the answer. When the
 * authorization server cannot answer, the request fails with 503: an
 * unreachable introspection endpoint must never read as "active", nor as a
 * definite "inactive".
 */
export function createRemoteIntrospector(options: { endpoint: string; clientId: string; clientSecret: string; timeoutMs?: number }): RemoteIntrospector {
  const authorization = `Basic ${Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString('base64')}`;
  return {
    async introspect(token) {
      let response: Response;
      try {
        response = await fetch(options.endpoint, {
          method: 'POST',
          headers: {
            Authorization: authorization,
            'Content-Type': 'application/x-www-form-urlencoded',
            Accept: 'application/json',
          },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
          signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
        });
      } catch (error) {
        throw serviceUnavailable(new Error('introspection endpoint unreachable', { cause: error }));
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw serviceUnavailable(new Error(`introspection endpoint answered ${response.status}`));
      }
      const parsed = responseSchema.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw serviceUnavailable(new Error('introspection endpoint sent a malformed answer'));
      const body = parsed.data;
      // Active, but not an API key (no key claims): nothing this API accepts.
      if (!body.active || !body.key_id || !body.facility_id) return { active: false };
      return {
        active: true,
        key: {
          keyId: body.key_id,
          facilityId: body.facility_id,
          scopes: (body.scope ?? '').split(' ').filter(Boolean),
          audience: audienceList(body.aud),
          issuedAt: body.iat ?? 0,
          expiresAt: body.exp,
          locationIds: body.location_ids ?? null,
        },
      };
    },
  };
}
