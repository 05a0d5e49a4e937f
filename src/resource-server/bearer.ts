import type { Context } from 'koa';

import { AppError } from '../http/errors.js';

type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

/**
 * An RFC 6750 error: 401 (or 403 for insufficient_scope) with a
 * `WWW-Authenticate: Bearer` challenge. Without an `error` it is the plain
 * challenge sent when no credentials came at all.
 */
export function bearerChallenge(options: {
  realm: string;
  error?: BearerError;
  description?: string;
  scope?: string;
}): AppError {
  const params = [`realm=${quote(options.realm)}`];
  if (options.error) params.push(`error=${quote(options.error)}`);
  if (options.description) params.push(`error_description=${quote(options.description)}`);
  if (options.scope) params.push(`scope=${quote(options.scope)}`);
  const forbidden = options.error === 'insufficient_scope';
  return new AppError({
    status: forbidden ? 403 : 401,
    code: forbidden ? 'insufficient-scope' : 'unauthorized',
    title: forbidden ? 'Insufficient scope' : 'Unauthorized',
    detail: options.description ?? 'Send a bearer token in the Authorization header.',
    headers: { 'WWW-Authenticate': `Bearer ${params.join(', ')}` },
  });
}

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const QUERY_TOKEN_NAMES = new Set(['access_token', 'api_key', 'apikey', 'key', 'token']);

/**
 * Reads the bearer token from the Authorization header, the only place a
 * token is accepted. A token offered in the query string is refused outright
 * (it would end up in access logs and browser history), even next to a good
 * header.
 */
export function extractBearer(ctx: Context, realm: string): string {
  for (const [name, value] of Object.entries(ctx.query)) {
    const values = Array.isArray(value) ? value : [value];
    if (QUERY_TOKEN_NAMES.has(name.toLowerCase()) || values.some((item) => item?.startsWith('oct_pat_'))) {
      throw bearerChallenge({
        realm,
        error: 'invalid_request',
        description: 'Credentials are accepted only in the Authorization header, never in the URL.',
      });
    }
  }
  const header = ctx.get('Authorization');
  const match = /^Bearer(?: +(.*))?$/i.exec(header.trim());
  // No header, or another scheme (Basic, ...): no bearer credentials were sent.
  if (!match) throw bearerChallenge({ realm });
  const token = match[1]?.trim() ?? '';
  if (!TOKEN68.test(token)) {
    throw bearerChallenge({ realm, error: 'invalid_token', description: 'The bearer token is malformed.' });
  }
  return token;
}
