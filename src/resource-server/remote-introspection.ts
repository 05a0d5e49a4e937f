import { z } from 'zod';

import { serviceUnavailable } from '../http/errors.js';
import { audienceList, INACTIVE, type Introspector } from './introspection.js';

const RESERVED = new Set(['active', 'scope', 'client_id', 'aud', 'iat', 'exp', 'sub', 'iss', 'jti', 'token_type', 'sid', 'cnf', 'nbf', 'username']);

const responseSchema = z.looseObject({
  active: z.boolean(),
  scope: z.string().optional(),
  client_id: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  iat: z.number().optional(),
  exp: z.number().optional(),
  sub: z.string().optional(),
});

/**
 * The remote introspector: RFC 7662 over HTTP with client authentication
 * (HTTP Basic), for a Leads API deployed apart from the authorization server.
 * Same contract as the in-process one. When the authorization server cannot
 * answer, the request fails with 503: an unreachable introspection endpoint
 * must never read as "active", nor as a definite "inactive".
 */
export function createRemoteIntrospector(options: { endpoint: string; clientId: string; clientSecret: string; timeoutMs?: number }): Introspector {
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
      if (!body.active) return INACTIVE;
      return {
        active: true,
        scope: body.scope ?? '',
        clientId: body.client_id ?? '',
        aud: audienceList(body.aud),
        iat: body.iat ?? 0,
        exp: body.exp,
        sub: body.sub,
        extra: Object.fromEntries(Object.entries(body).filter(([name]) => !RESERVED.has(name))),
      };
    },
  };
}
