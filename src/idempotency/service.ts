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
 * The canonical text of a plain object whose values are all strings,
 * numbers, booleans, null or undefined, written in one pass over its sorted
 * keys: every body a route takes an Idempotency-Key for today. Undefined
 * for any other value, and for a key that starts with a digit (an object
 * orders array-index keys first, so the general way would order them
 * otherwise): those go the general way.
 */
function flatText(method: string, path: string, body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const prototype = Object.getPrototypeOf(body) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const record = body as Record<string, unknown>;
  let text = `[${JSON.stringify(method)},${JSON.stringify(path)},{`;
  let first = true;
  for (const key of Object.keys(record).sort()) {
    const value = record[key];
    if (value === undefined) continue;
    const type = typeof value;
    if ((value !== null && type !== 'string' && type !== 'number' && type !== 'boolean') || (key.charCodeAt(0) >= 48 && key.charCodeAt(0) <= 57)) return undefined;
    text += `${first ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(value)}`;
    first = false;
  }
  return `${text}}]`;
}

/**
 * A stable fingerprint of a request: method, path and the validated body
 * with sorted keys (SHA-256, hex). A flat body's text is written in one
 * pass (`flatText`), the same text as the general way's, so the
 * fingerprints stored before hold.
 */
export function fingerprintOf(method: string, path: string, body: unknown): string {
  return hash('sha256', flatText(method, path, body) ?? canonicalText(method, path, body), 'hex');
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
 * Thrown by an `attempt` that met an effect already made with this key by a
 * request that did not see the claim (an effect that keeps its key itself,
 * made on its own first attempt), whatever else it met: `run` lets go of
 * its claim and answers from that effect.
 */
export class EffectExists extends Error {
  constructor() {
    super('an effect with this Idempotency-Key exists');
  }
}

/** An effect that keeps its own key: the fingerprint of the request that made it, and its result. */
export interface KeptEffect<T> {
  fingerprint: string;
  result: T;
}

const reused = () =>
  new AppError({
    status: 422,
    code: 'idempotency-key-reused',
    title: 'Idempotency-Key reused',
    detail: 'This Idempotency-Key was already used with a different request body. Use a new key for a new request.',
  });

/**
 * Idempotency-Key handling in the spirit of the IETF httpapi draft and
 * Stripe: the first request with a key claims it; a retry with the same body
 * gets the first answer again (`Idempotent-Replayed: true`); another body
 * gets 422; a retry while the first is still running gets 409. `attempt`
 * writes its effect and completes the claimed record in the same statement
 * (see `completeRecordSql`), so an effect and its record commit together:
 * an effect is never recorded twice, nor lost. A client error is kept and
 * replayed too.
 *
 * An effect may also keep its key itself (`kept`: a lead written on its
 * first attempt, with no record; see `unrecordedSql`): a retry then answers
 * from it, first of all.
 */
export function createIdempotency(deps: { store: IdempotencyStore }) {
  const { store } = deps;
  return {
    async run<T>(
      scope: string,
      key: string,
      fingerprint: string,
      work: {
        /** The effect made with this key, when it keeps its key itself. */
        kept(): Promise<KeptEffect<T> | undefined>;
        /** Does the work and completes the claimed record with its outcome, atomically. */
        attempt(): Promise<T>;
        /** The result again, from the outcome `attempt` recorded. */
        replay(outcome: StoredOutcome): T;
      },
    ): Promise<{ result: T; replayed: boolean }> {
      const replayKept = (effect: KeptEffect<T>) => {
        if (effect.fingerprint !== fingerprint) throw reused();
        return { result: effect.result, replayed: true };
      };
      const kept = await work.kept();
      if (kept) return replayKept(kept);
      if (!(await store.claim(scope, key, fingerprint))) {
        const existing = await store.find(scope, key);
        if (!existing) throw conflict('A request with this Idempotency-Key was just finishing. Retry it.');
        if (existing.fingerprint !== fingerprint) throw reused();
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
        if (error instanceof EffectExists) {
          // Made meanwhile by a first attempt that did not see the claim: that effect is the answer.
          await store.release(scope, key);
          const meanwhile = await work.kept();
          if (meanwhile) return replayKept(meanwhile);
          throw conflict('A request with this Idempotency-Key was just finishing. Retry it.');
        }
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
