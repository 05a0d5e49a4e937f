import { randomBytes } from 'node:crypto';

import type { Context, Next } from 'koa';

import type { RequestState } from '../http/request-context.js';

/** Cached by clients: discovery and the public keys change only with the configuration. */
const CACHEABLE = new Set(['/oauth/.well-known/openid-configuration', '/oauth/jwks']);

/**
 * Everything under /oauth, before oidc-provider and our sign-in pages:
 *
 * - every HTML page gets a Content-Security-Policy, with a nonce for the one
 *   inline script a page may carry (the console's sign-out);
 * - discovery and the JWKS may be cached for five minutes.
 */
export function createOAuthPages(options: { publicUrl: string; formTargets: string[] }) {
  const origin = new URL(options.publicUrl).origin;
  const formAction = ["'self'", ...new Set(options.formTargets.map((target) => new URL(target).origin).filter((target) => target !== origin))].join(' ');

  return async function oauthPages(ctx: Context, next: Next): Promise<void> {
    if (!ctx.path.startsWith('/oauth/')) return next();
    const state = ctx.state as RequestState;
    state.cspNonce = randomBytes(16).toString('base64');
    // Set before the page is made, so error pages (rendered further up) carry it too; harmless on JSON.
    ctx.set(
      'Content-Security-Policy',
      [
        "default-src 'none'",
        `script-src 'nonce-${state.cspNonce}'`,
        "style-src 'unsafe-inline'",
        "img-src 'self' data:",
        `form-action ${formAction}`,
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join('; '),
    );
    await next();
    if (CACHEABLE.has(ctx.path) && ctx.status === 200) ctx.set('Cache-Control', 'public, max-age=300');
  };
}
