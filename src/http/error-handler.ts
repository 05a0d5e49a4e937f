import { STATUS_CODES } from 'node:http';

import type { Context, Next } from 'koa';

import { AppError, notFound, serviceUnavailable } from './errors.js';
import { isDatabaseUnavailable } from '../db/errors.js';
import { renderErrorPage } from './html.js';
import type { RequestState } from './request-context.js';

const CLIENT_GONE = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Turns anything thrown below into the AppError the client will see. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error)) return serviceUnavailable(error);
  const httpError = error as { status?: unknown; expose?: unknown; message?: unknown };
  const status = httpError.status;
  // Koa's and the router's own errors (405, and 501 for a method no route knows): the client's doing.
  if (typeof status === 'number' && ((status >= 400 && status < 500 && httpError.expose) || status === 501)) {
    const title = STATUS_CODES[status] ?? 'Bad request';
    return new AppError({
      status,
      code: title.toLowerCase().replace(/[^a-z]+/g, '-'),
      title,
      detail: status === 501 ? 'This method is not supported here.' : typeof httpError.message === 'string' ? httpError.message : undefined,
      cause: error,
    });
  }
  return new AppError({ status: 500, code: 'internal', title: 'Internal server error', cause: error });
}

/**
 * oidc-provider answers its own failures (a 500 `server_error`, as JSON or its
 * error page) and tells of them only through its `server_error` event; called
 * from that event, this turns a database that cannot be reached into what
 * every other route answers then: 503 with Retry-After (the OAuth error
 * `temporarily_unavailable` in a JSON body). Any other failure stays a 500.
 */
export function answerProviderFailure(ctx: Context, error: unknown): void {
  const answer = toAppError(error);
  if (answer.status !== 503) return;
  ctx.status = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) ctx.set(name, value);
  const body = ctx.body as { error?: unknown } | null | undefined;
  if (typeof body === 'object' && body?.error === 'server_error') ctx.body = { error: 'temporarily_unavailable', error_description: answer.detail };
}

/**
 * Mounted first. Every failure below becomes one response shape: RFC 9457
 * problem+json for the JSON APIs, a plain HTML page for the login pages. A 5xx
 * shows only a generic message and the request id; its cause goes to the log.
 */
export function createErrorHandler(options: { problemBaseUrl: string }) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    const state = ctx.state as RequestState;
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null && !ctx.headerSent) throw notFound();
    } catch (thrown) {
      const error = toAppError(thrown);
      // The client went away only if its own socket can no longer take an answer:
      // ECONNRESET from the database (a dropped connection) must still get its 503.
      const code = (thrown as { code?: string }).code;
      if (code && CLIENT_GONE.has(code) && !ctx.writable) {
        state.log.debug({ code }, 'client went away mid-request');
        return;
      }
      // A 501 answers a method the client made up: not a fault of ours, nothing to alert on.
      if (error.status >= 500 && error.status !== 501) {
        state.log.error({ err: error.cause ?? error, status: error.status }, 'request failed');
      }
      if (ctx.headerSent || !ctx.writable) return;
      ctx.status = error.status;
      for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
      // The sign-in pages are HTML; the machine endpoints of /oauth (token, introspection, revocation) answer JSON.
      if (ctx.path.startsWith('/oauth/') && !ctx.path.startsWith('/oauth/token')) {
        ctx.type = 'html';
        ctx.body = renderErrorPage({ title: error.title, detail: error.expose ? error.detail : undefined, requestId: state.requestId });
        return;
      }
      ctx.type = 'application/problem+json';
      ctx.body = {
        type: `${options.problemBaseUrl}/${error.code}`,
        title: error.title,
        status: error.status,
        detail: error.expose ? error.detail : 'Something went wrong on our side. Quote the request id if you contact support.',
        ...(error.errors ? { errors: error.errors } : {}),
        ...(error.expose ? error.extra : {}),
        requestId: state.requestId,
      };
    }
  };
}
