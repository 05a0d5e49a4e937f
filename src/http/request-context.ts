import { randomUUID } from 'node:crypto';

import type { Context, Next } from 'koa';

import type { Logger } from '../logger.js';

/** Where a request came from: what an audit event keeps of it. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * `ctx.state` of every request: its id and a logger carrying it. The child
 * logger is made on first use (most requests only need the access line), by
 * a getter on the class: a per-request `Object.defineProperty` with its own
 * closure gave every request's state a hidden class of its own, and those
 * maps (old-space objects) and the megamorphic lookups they caused made the
 * whole request path markedly slower.
 */
export class RequestState {
  readonly #logger: Logger;
  #child: Logger | undefined;
  /** Why a credential was refused (never the credential): goes to the access-log line. */
  refusal: string | undefined = undefined;
  /** The Content-Security-Policy nonce of an /oauth page's inline script. */
  cspNonce: string | undefined = undefined;

  constructor(
    readonly requestId: string,
    logger: Logger,
  ) {
    this.#logger = logger;
  }

  get log(): Logger {
    return (this.#child ??= this.#logger.child({ requestId: this.requestId }));
  }
}

/**
 * Gives every request an id of ours (sent back as X-Request-Id; a caller's
 * own well-formed X-Request-Id is logged beside it as `clientRequestId`, so a
 * CRM can still find its retries, but never becomes ours: a caller could
 * otherwise make many requests look like one) and a child logger carrying
 * it, and writes one access-log line per request. The line holds the path
 * only: query strings can carry codes and misplaced keys, so they are never
 * logged.
 */
export function createRequestContext(logger: Logger) {
  // The pass-through middlewares here return `next()` rather than awaiting it: an
  // async function of their own would cost every request more promises for nothing.
  return function requestContext(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('X-Request-Id');
    const clientRequestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : undefined;
    const requestId = randomUUID();
    ctx.state = new RequestState(requestId, logger);
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    ctx.res.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // pino leaves out undefined fields: `refusal` appears only when a credential was refused.
      logger.info(
        {
          requestId,
          clientRequestId,
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms: Math.round(ms * 10) / 10,
          aborted: !ctx.res.writableFinished,
          refusal: (ctx.state as RequestState).refusal,
        },
        'request',
      );
    });
    return next();
  };
}

/** `scheme://authority` at the start of a request target: the absolute form (RFC 9112, section 3.2.2). */
const ABSOLUTE_FORM = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i;

/**
 * Every URL the server writes starts with PUBLIC_URL, whatever the request
 * said. A target in absolute form (`GET http://evil.test/x HTTP/1.1`) is cut
 * to its path and query: its authority counts for as little as a Host
 * header does (a mismatch is not refused: nothing reads it). Then Koa's
 * `href`, the base oidc-provider builds every URL on (discovery, the
 * sign-out form, redirects), is the public origin plus that path. Mounted
 * first, so nothing sees the target before.
 */
export function createPublicOrigin(publicUrl: string) {
  const origin = new URL(publicUrl).origin;
  return function publicOrigin(ctx: Context, next: Next): Promise<void> {
    const target = ctx.url;
    if (ABSOLUTE_FORM.test(target)) {
      const rest = target.replace(ABSOLUTE_FORM, '');
      ctx.url = rest.startsWith('/') ? rest : `/${rest}`;
    }
    // An absolute originalUrl is what Koa's href (and so every URL the provider writes) is made of.
    ctx.request.originalUrl = `${origin}${ctx.url}`;
    return next();
  };
}

/** Response headers every page and API answer carries. */
export function createSecurityHeaders(options: { https: boolean }) {
  return function securityHeaders(ctx: Context, next: Next): Promise<void> {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    return next();
  };
}

/** Where a request came from, as an audit event keeps it. */
export function requestOrigin(ctx: Context): RequestOrigin {
  return { ip: ctx.ip || null, userAgent: ctx.get('User-Agent') || null, requestId: (ctx.state as RequestState).requestId ?? null };
}
