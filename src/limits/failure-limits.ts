import type { Logger } from '../logger.js';
import { isLimitReached, retryAfterSeconds, type LimitStore } from './store.js';

/** Failures one address may cause per minute before it gets 429 (API.md "Limits"). */
export const FAILURE_LIMITS = {
  /** Refused API keys (401) on the Leads API. */
  keyChecks: { points: 100, durationSeconds: 60 },
  /** Failed client authentication at introspection and the token endpoint, and bad codes there. */
  clientAuth: { points: 100, durationSeconds: 60 },
} as const;

export type FailureKind = keyof typeof FAILURE_LIMITS;

/** After a failure: whether the address may go on, and the figures for headers. */
export interface FailureCount {
  limit: number;
  windowSeconds: number;
  remaining: number;
  /** Set when the address is now blocked: seconds until it may try again. */
  retryAfter: number | undefined;
}

/**
 * Limits on failures per client address, shared by every process: a failure
 * is counted in the shared store (a failure path, not the hot one); an
 * address over its limit is then blocked in this process until its window
 * ends, so the check before each request is a look-up in memory, never a
 * read. Another process blocks the same address at its own next failure.
 */
export function createFailureLimits(deps: { store: LimitStore; logger: Logger }) {
  const { store, logger } = deps;
  // By kind, then by address: no string built per request to look one up.
  const blockedUntil: Record<FailureKind, Map<string, number>> = { keyChecks: new Map(), clientAuth: new Map() };

  return {
    /** Seconds until the address may try again, or undefined when it is not blocked. */
    blocked(kind: FailureKind, ip: string): number | undefined {
      const blocked = blockedUntil[kind];
      if (blocked.size === 0) return undefined;
      const until = blocked.get(ip);
      if (until === undefined) return undefined;
      const left = until - Date.now();
      if (left > 0) return Math.ceil(left / 1000);
      blocked.delete(ip);
      return undefined;
    },

    /** Counts a failure from the address. */
    async fail(kind: FailureKind, ip: string): Promise<FailureCount> {
      const { points, durationSeconds } = FAILURE_LIMITS[kind];
      const count = (remaining: number, retryAfter?: number): FailureCount => ({ limit: points, windowSeconds: durationSeconds, remaining, retryAfter });
      const block = (msBeforeNext: number) => {
        const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
        const blocked = blockedUntil[kind];
        blocked.set(ip, Date.now() + retryAfter * 1000);
        if (blocked.size > 100_000) {
          const now = Date.now();
          for (const [address, until] of blocked) if (until <= now) blocked.delete(address);
        }
        return retryAfter;
      };
      try {
        const result = await store.limiter(`fail-${kind}`, points, durationSeconds).consume(store.keyOf(ip));
        // The last failure allowed: from now on, this address waits for the window's end.
        return count(result.remainingPoints, result.remainingPoints === 0 ? block(result.msBeforeNext) : undefined);
      } catch (reason) {
        if (!isLimitReached(reason)) {
          // The store and its in-process insurance both failed: count nothing, never stop the request for it.
          logger.warn({ err: reason }, 'could not count a failure');
          return count(points);
        }
        return count(0, block(retryAfterSeconds(reason) * 1000));
      }
    },
  };
}

export type FailureLimits = ReturnType<typeof createFailureLimits>;
