import type { Context, Next } from 'koa';

import { AppError } from '../http/errors.js';
import type { FailureLimits } from './failure-limits.js';

/** The machine endpoints of /oauth where a client authenticates (and presents codes). */
const GUARDED = new Set(['/oauth/token', '/oauth/token/introspection', '/oauth/token/revocation']);

/** What counts as a failed client authentication: 401 invalid_client anywhere here; a bad code or refresh token at the token endpoint. */
function failed(ctx: Context): boolean {
  if (ctx.status === 401) return true;
  const error = (ctx.body as { error?: unknown } | undefined)?.error;
  return ctx.path === '/oauth/token' && ctx.status === 400 && (error === 'invalid_grant' || error === 'invalid_client');
}

/**
 * Per-address limit on failed client authentication at the token,
 * introspection and revocation endpoints (oidc-provider's and our key
 * introspection): past 100 failures a minute, 429 with Retry-After before
 * any work is done.
 */
export function createOAuthFailureLimit(failures: FailureLimits) {
  return function limitOAuthFailures(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'POST' || !GUARDED.has(ctx.path)) return next();
    return guarded(ctx, next);
  };

  async function guarded(ctx: Context, next: Next): Promise<void> {
    const blocked = failures.blocked('clientAuth', ctx.ip);
    if (blocked !== undefined) {
      throw new AppError({
        status: 429,
        code: 'rate-limited',
        title: 'Too many requests',
        detail: `Too many failed client authentications came from this address. Try again in ${blocked} seconds.`,
        headers: { 'Retry-After': String(blocked) },
      });
    }
    await next();
    if (failed(ctx)) await failures.fail('clientAuth', ctx.ip);
  }
}
