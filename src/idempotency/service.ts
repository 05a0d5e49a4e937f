import { hash } from 'node:crypto';

import { AppError, conflict } from '../http/errors.js';
import type { Answers } from '../http/route.js';
import type { IdempotencyStore, StoredOutcome } from './store.js';

/** An attempt still "in flight" after this long is taken to be abandoned (its process died). */
export const STALE_AFTER_MS = 60_000;
/** Records are kept this long (API.md: at least 24 hours). */
export const RETENTION_HOURS = 25;

export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** What a route that takes an `Idempotency-Key` may answer because of it (declared with the header, as its `answers`). */
export const IDEMPOTENCY_ANSWERS: Answers = {
  headers: { [REPLAYED_HEADER]: 'sometimes' },
  responses: {
    409: {
      description: 'A request with this Idempotency-Key is still in flight: retry after `Retry-After` seconds.',
      headers: { 'Retry-After': 'sometimes' },
    },
    422: { description: 'This Idempotency-Key was already used with another body: use a new key for a new request.' },
  },
};

/** A value with its object keys sorted and undefined fields left out, at every depth: the same body, the same text. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, inner]) => inner !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, inner]) => [key, canonical(inner)]),
    );
  }
  return value;
}

/**
 * A plain object whose values are all strings, numbers, booleans, null or
 * undefined, and none of whose keys is an array index (an object orders
 * those first, so a sorted key list would not give the canonical text):
 * every body a route takes an Idempotency-Key for today.
 */
function isFlat(value: unknown): value is Record<string, unknown> {
  if (!value || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return false;
  for (const [key, inner] of Object.entries(value)) {
    if (/^(0|[1-9]\d*)$/.test(key)) return false;
    if (inner !== null && inner !== undefined && typeof inner !== 'string' && typeof inner !== 'number' && typeof inner !== 'boolean') return false;
  }
  return true;
}

/**
 * A stable fingerprint of a request: method, path and the validated body
 * with sorted keys (SHA-256, hex). A flat body is written in one
 * `JSON.stringify` whose key list is sorted, which is the canonical text
 * without building a sorted copy (it leaves out undefined fields the same
 * way); both give the same text, so the fingerprints stored before hold.
 */
export function fingerprintOf(method: string, path: string, body: unknown): string {
  const text = isFlat(body)
    ? `[${JSON.stringify(method)},${JSON.stringify(path)},${JSON.stringify(body, Object.keys(body).sort())}]`
    : canonicalText(method, path, body);
  return hash('sha256', text, 'hex');
}

/** The canonical text `fingerprintOf` hashes, built the general way (its tests hold the flat way to it). */
export function canonicalText(method: string, path: string, body: unknown): string {
  return JSON.stringify([method, path, canonical(body)]);
}

interface StoredProblem {
  problem: { status: number; code: string; title: string; detail?: string; errors?: unknown; extra?: Record<string, unknown> };
}

function toStoredProblem(error: AppError): StoredOutcome {
  const problem = { status: error.status, code: error.code, title: error.title, detail: error.detail, errors: error.errors, extra: error.extra };
  return { status: error.status, result: { problem } satisfies StoredProblem };
}

function replayedProblem(stored: StoredProblem['problem']): AppError {
  return new AppError({
    status: stored.status,
    code: stored.code,
    title: stored.title,
    ...(stored.detail ? { detail: stored.detail } : {}),
    ...(stored.errors ? { errors: stored.errors as never } : {}),
    ...(stored.extra ? { extra: stored.extra } : {}),
    headers: { [REPLAYED_HEADER]: 'true' },
  });
}

/**
 * Idempotency-Key handling in the spirit of the IETF httpapi draft and
 * Stripe: the first request with a key claims it; a retry with the same body
 * gets the first answer again (`Idempotent-Replayed: true`); another body
 * gets 422; a retry while the first is still running gets 409. `attempt`
 * writes its effect and completes the claimed record in the same statement
 * (see `recordOutcomeSql`), so an effect and its record commit together: an
 * effect is never recorded twice, nor lost. A client error is kept and
 * replayed too.
 */
export function createIdempotency(deps: { store: IdempotencyStore }) {
  const { store } = deps;
  return {
    async run<T>(
      scope: string,
      key: string,
      fingerprint: string,
      work: {
        /** Does the work and completes the claimed record with its outcome, atomically. */
        attempt(): Promise<T>;
        /** The result again, from the outcome `attempt` recorded. */
        replay(outcome: StoredOutcome): T;
      },
    ): Promise<{ result: T; replayed: boolean }> {
      if (!(await store.claim(scope, key, fingerprint))) {
        const existing = await store.find(scope, key);
        if (!existing) throw conflict('A request with this Idempotency-Key was just finishing. Retry it.');
        if (existing.fingerprint !== fingerprint) {
          throw new AppError({
            status: 422,
            code: 'idempotency-key-reused',
            title: 'Idempotency-Key reused',
            detail: 'This Idempotency-Key was already used with a different request body. Use a new key for a new request.',
          });
        }
        if (existing.outcome) {
          const stored = existing.outcome.result as StoredProblem | undefined;
          if (stored && typeof stored === 'object' && 'problem' in stored) throw replayedProblem(stored.problem);
          return { result: work.replay(existing.outcome), replayed: true };
        }
        const stale = Date.now() - existing.startedAt.getTime() > STALE_AFTER_MS;
        if (!stale || !(await store.takeOver(scope, key, existing.startedAt))) {
          throw new AppError({
            status: 409,
            code: 'idempotency-key-in-flight',
            title: 'Request in progress',
            detail: 'A request with this Idempotency-Key is still being processed. Retry after a moment.',
            headers: { 'Retry-After': '1' },
          });
        }
      }
      try {
        return { result: await work.attempt(), replayed: false };
      } catch (error) {
        if (error instanceof AppError && error.status < 500) {
          // A client error is the request's answer: keep it for retries too.
          await store.complete(scope, key, toStoredProblem(error));
        } else {
          // Worth retrying (database down, a bug): forget the attempt so a retry can run.
          await store.release(scope, key).catch(() => undefined);
        }
        throw error;
      }
    },
  };
}

export type Idempotency = ReturnType<typeof createIdempotency>;
