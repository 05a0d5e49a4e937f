import type { Context } from 'koa';

import { AppError, badRequest } from './errors.js';

export const DEFAULT_BODY_LIMIT = 16 * 1024;

const tooLarge = (limit: number) =>
  new AppError({
    status: 413,
    code: 'payload-too-large',
    title: 'Payload too large',
    detail: `The request body must not exceed ${limit} bytes.`,
    headers: { Connection: 'close' },
  });

const unsupportedMediaType = (detail: string) =>
  new AppError({ status: 415, code: 'unsupported-media-type', title: 'Unsupported media type', detail });

/**
 * Reads the raw body, refusing (413) anything over `limit` bytes without
 * buffering it. A client that closes the connection before its body ends
 * rejects with ECONNRESET (answered as "client gone", nothing written).
 * Plain stream events: on the Leads API's hot path an async iterator per
 * request was a measurable cost.
 */
function readRaw(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('Content-Length') || Number.NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  const request = ctx.req;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: unknown) => {
      request.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) settle(tooLarge(limit));
      else chunks.push(chunk);
    };
    const onEnd = () => settle();
    const onClose = () => settle(Object.assign(new Error('The client closed the connection before the body ended.'), { code: 'ECONNRESET' }));
    request.on('data', onData).once('end', onEnd).once('error', settle).once('close', onClose);
  });
}

/**
 * Whether the body is JSON (`application/json` or `application/*+json`). The
 * common exact spellings are matched first: a full media-type parse on every
 * request of the Leads API was a measurable share of it.
 */
function isJson(ctx: Context): boolean {
  const type = ctx.get('Content-Type');
  if (type === 'application/json' || type === 'application/json; charset=utf-8') return true;
  return Boolean(ctx.is('application/json', 'application/*+json'));
}

/** The raw bytes of a JSON request body (415 when it is not JSON, 413 over the limit), for a caller that checks a signature over them. */
export async function readRawJsonBody(ctx: Context, limit: number): Promise<Buffer> {
  if (!isJson(ctx)) throw unsupportedMediaType('The request body must be JSON, sent with Content-Type: application/json.');
  return readRaw(ctx, limit);
}

/**
 * Parses a JSON request body: 415 when the request is not JSON, 413 over the
 * limit, 400 for malformed JSON. An empty body reads as `undefined`.
 */
export async function readJsonBody(ctx: Context, limit = DEFAULT_BODY_LIMIT): Promise<unknown> {
  const hasBody = ctx.request.length > 0 || ctx.get('Transfer-Encoding') !== '';
  if (!hasBody) return undefined;
  if (!isJson(ctx)) throw unsupportedMediaType('The request body must be JSON, sent with Content-Type: application/json.');
  const raw = await readRaw(ctx, limit);
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
}

/** Parses an application/x-www-form-urlencoded body, every value of every name. */
export async function readFormParams(ctx: Context, limit = DEFAULT_BODY_LIMIT, options: { typeChecked?: boolean } = {}): Promise<URLSearchParams> {
  if (!options.typeChecked && !ctx.is('application/x-www-form-urlencoded')) {
    throw unsupportedMediaType('The form must be sent as application/x-www-form-urlencoded.');
  }
  const raw = await readRaw(ctx, limit);
  return new URLSearchParams(raw.toString('utf8'));
}

/** Parses an application/x-www-form-urlencoded body (the login form), the last value of each name. */
export async function readFormBody(ctx: Context, limit = DEFAULT_BODY_LIMIT): Promise<Record<string, string>> {
  return Object.fromEntries(await readFormParams(ctx, limit));
}
