import type { Logger } from '../logger.js';
import type { LimitStore } from './store.js';

/** What a key may do, as the facility set it (the key's own limit, or the facility's default). */
export interface KeyPolicy {
  keyId: string;
  limit: number;
  windowSeconds: number;
}

/** A key's window as this process knows it: the count across processes at the last sync, and what it let through since. */
interface Window {
  policy: KeyPolicy;
  /** Epoch ms when the window ends (as the shared store says). */
  endsAt: number;
  /** The count across all processes at the last sync. */
  counted: number;
  /** Requests this process let through since, not yet sent to the store. */
  pending: number;
  /** Requests being sent to the store right now (counted in neither of the two above until it answers). */
  sending: number;
}

/** The answer for one request: let it through, or not, and the figures for the RateLimit headers. */
export interface KeyLimitDecision {
  /** The key whose limit it is (a refused request is counted as its use). */
  keyId: string;
  allowed: boolean;
  limit: number;
  windowSeconds: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/** How often counts are sent to the shared store and the totals read back. */
const SYNC_INTERVAL_MS = 200;
/** A key's limit is read again after this long (a changed limit applies within it). */
const POLICY_TTL_MS = 60_000;

/**
 * Per-key limits of the Leads API, shared by every process, without a read
 * or a lock on the request's path: each process decides from its own count
 * of the key's window (the total across processes at the last sync, plus what
 * it let through since) and sends its counts to the shared store every
 * 200 ms in one call per key (rate-limiter-flexible's `consume` with the
 * count as points), reading the total back. Across N processes a key can
 * overshoot its limit by what N processes let through in one sync interval.
 *
 * A key's limit is read from the database once a minute per process; the
 * first request of a key in a process waits for that read (one query).
 * When the store fails, each process keeps counting on its own (fail-open
 * to per-process limits, logged): a limit store outage never stops leads.
 */
export function createKeyLimits(deps: {
  /** Reads the limit of the key a secret belongs to (the API key store's `ratePolicyOfSecret`). */
  loadPolicy: (tokenHash: string) => Promise<KeyPolicy | undefined>;
  store: LimitStore;
  logger: Logger;
}) {
  const { loadPolicy, store, logger } = deps;
  const policies = new Map<string, { policy: KeyPolicy | undefined; loadedAt: number; loading?: Promise<KeyPolicy | undefined> }>();
  const windows = new Map<string, Window>();
  let storeFailing = false;

  /**
   * The key's policy: from memory (no promise: the hot path stays
   * synchronous), or read and kept a minute. Undefined for a secret that is
   * not ours.
   */
  function policyOf(tokenHash: string): KeyPolicy | undefined | Promise<KeyPolicy | undefined> {
    const now = Date.now();
    const known = policies.get(tokenHash);
    if (known && now - known.loadedAt < POLICY_TTL_MS) return known.policy;
    if (known?.loading) return known.policy ?? known.loading;
    const loading = loadPolicy(tokenHash).then(
      (policy) => {
        policies.set(tokenHash, { policy, loadedAt: Date.now() });
        return policy;
      },
      (error: unknown) => {
        policies.delete(tokenHash);
        throw error;
      },
    );
    // While it reloads, the old policy keeps answering.
    policies.set(tokenHash, { policy: known?.policy, loadedAt: known?.loadedAt ?? 0, loading });
    return known?.policy ?? loading;
  }

  function windowOf(policy: KeyPolicy, now: number): Window {
    let window = windows.get(policy.keyId);
    if (!window || now >= window.endsAt || window.policy.limit !== policy.limit || window.policy.windowSeconds !== policy.windowSeconds) {
      window = { policy, endsAt: now + policy.windowSeconds * 1000, counted: 0, pending: 0, sending: 0 };
      windows.set(policy.keyId, window);
    }
    return window;
  }

  /** The total the shared store gave for a key's window. Logged at debug when it changes: the word, for a test, that this process knows what the others counted. */
  function heardTotal(keyId: string, window: Window, total: number): void {
    if (total !== window.counted) logger.debug({ keyId, counted: total }, 'key limit: count across processes');
    window.counted = total;
  }

  async function sync(): Promise<void> {
    const now = Date.now();
    if (policies.size > 10_000) {
      for (const [tokenHash, known] of policies) if (!known.loading && now - known.loadedAt > POLICY_TTL_MS) policies.delete(tokenHash);
    }
    for (const [keyId, window] of windows) {
      if (now >= window.endsAt && window.pending === 0) {
        windows.delete(keyId);
        continue;
      }
      const limiter = store.limiter('leads-key', window.policy.limit, window.policy.windowSeconds);
      if (window.pending === 0) {
        // Nothing to send: read what the other processes counted, so this one stops in time too.
        const total = await limiter.get(keyId).catch(() => null);
        if (total && window.sending === 0) heardTotal(keyId, window, Math.max(window.counted, total.consumedPoints));
        continue;
      }
      const points = window.pending;
      window.pending = 0;
      window.sending = points;
      try {
        // Spent points reject with the same result: either way it holds the total and the window's end.
        const result = await limiter.consume(keyId, points).catch((reason: unknown) => {
          if (reason instanceof Error) throw reason;
          return reason as { consumedPoints: number; msBeforeNext: number };
        });
        heardTotal(keyId, window, result.consumedPoints);
        window.sending = 0;
        window.endsAt = Date.now() + result.msBeforeNext;
        if (storeFailing) logger.info('rate-limit store answers again: key limits are shared again');
        storeFailing = false;
      } catch (error) {
        window.counted += points;
        window.sending = 0;
        if (!storeFailing) logger.warn({ err: error }, 'rate-limit store failed: key limits count in this process until it answers');
        storeFailing = true;
      }
    }
  }

  let syncing: Promise<void> | undefined;
  const timer = setInterval(() => {
    syncing ??= sync().finally(() => {
      syncing = undefined;
    });
  }, SYNC_INTERVAL_MS);
  timer.unref();

  function decide(policy: KeyPolicy | undefined): KeyLimitDecision | undefined {
    if (!policy) return undefined;
    const now = Date.now();
    const window = windowOf(policy, now);
    const used = window.counted + window.sending + window.pending;
    const allowed = used < policy.limit;
    if (allowed) window.pending += 1;
    return {
      keyId: policy.keyId,
      allowed,
      limit: policy.limit,
      windowSeconds: policy.windowSeconds,
      remaining: Math.max(0, policy.limit - used - (allowed ? 1 : 0)),
      resetSeconds: Math.max(0, Math.ceil((window.endsAt - now) / 1000)),
    };
  }

  return {
    /**
     * Counts a request against the key's limit, or refuses it. Undefined for
     * a secret that is not a key of ours (the key check refuses it anyway).
     * Synchronous once the key's policy is known (the common case); a
     * promise only while it is first read.
     */
    take(tokenHash: string): KeyLimitDecision | undefined | Promise<KeyLimitDecision | undefined> {
      const policy = policyOf(tokenHash);
      return policy instanceof Promise ? policy.then(decide) : decide(policy);
    },

    /** Sends the counts now (the timer does it every 200 ms; tests and shutdown too). */
    async flush(): Promise<void> {
      await syncing;
      await sync();
    },

    async stop(): Promise<void> {
      clearInterval(timer);
      await syncing;
      await sync();
    },
  };
}

export type KeyLimits = ReturnType<typeof createKeyLimits>;
