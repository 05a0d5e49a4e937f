import type { Knex } from 'knex';

import type { AuditLog } from '../audit/service.js';
import { inTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import { createDailyCounts, type RefusedOutcome } from './usage-counts.js';
import { USAGE_RESOLUTION_MS, type Use, type UsageStore } from './usage-store.js';

export { USAGE_RESOLUTION_MS };

/**
 * Records when and from where each key secret was last used, off the
 * request's critical path: a request only notes the use in memory (once a
 * minute per secret and address at the most); a timer writes the notes in
 * one statement, and the statement itself skips a secret whose last use was
 * written less than a minute ago, by this process or any other. Nothing on
 * the request path reads or locks a key's row for it.
 *
 * A key's first use from an address it was never used from is an audit
 * event (`api_key.first_used_from_ip`), found by the same write: the address
 * is recorded for the key, and only an address new to it makes an event, in
 * the same transaction.
 */
export function createUsageTracker(deps: {
  db: Knex;
  store: UsageStore;
  logger: Logger;
  audit: AuditLog;
  /** Write on a timer (a server); without it, only `flush()` and `stop()` write (the command line). */
  background?: boolean;
  flushIntervalMs?: number;
}) {
  const { db, store, logger, audit } = deps;
  // By secret, then by address: when each was last noted (no string built per request).
  const noted = new Map<string, Map<string, number>>();
  let pending: Use[] = [];
  const counts = createDailyCounts();

  async function write(uses: Use[]): Promise<void> {
    // One row per secret for the update: its latest use.
    const latest = new Map<string, Use>();
    for (const use of uses) if ((latest.get(use.tokenHash)?.at.getTime() ?? -1) < use.at.getTime()) latest.set(use.tokenHash, use);
    // In one order (by secret): two processes' writes then tend to lock rows in the same order. A write
    // that still meets a deadlock fails alone: it is logged and dropped (last use is a convenience).
    const rows = [...latest.values()].sort((a, b) => (a.tokenHash < b.tokenHash ? -1 : a.tokenHash > b.tokenHash ? 1 : 0));
    await inTransaction(db, async () => {
      await store.recordLastUse(rows);
      for (const first of await store.addAddresses(uses)) {
        await audit.record({
          facilityId: first.facilityId,
          action: 'api_key.first_used_from_ip',
          actor: { type: 'system', name: 'usage tracking' },
          target: { type: 'api_key', id: first.keyId, name: first.keyName },
          origin: { ip: first.ip, userAgent: null, requestId: null },
          details: { ip: first.ip },
        });
      }
    });
  }

  /** Adds the requests counted so far to the keys' days; what fails to be written is counted again with the next ones. */
  async function writeCounts(): Promise<void> {
    const taken = counts.take();
    await store.addDailyCounts(taken).catch((error: unknown) => {
      counts.add(taken);
      logger.warn({ err: error, counts: taken.length }, 'could not record API key requests per day; kept for the next write');
    });
  }

  /** Writes what is pending now; runs one at a time (see `flush`). */
  async function writePending(): Promise<void> {
    await writeCounts();
    if (pending.length === 0) return;
    const uses = pending;
    pending = [];
    await write(uses).catch((error: unknown) => {
      // Last use is a convenience: a failed write is logged and dropped, never retried into a pile.
      logger.warn({ err: error, uses: uses.length }, 'could not record API key usage');
    });
    // Forget notes old enough that the next use must be noted again.
    const horizon = Date.now() - USAGE_RESOLUTION_MS;
    for (const [tokenHash, addresses] of noted) {
      for (const [ip, at] of addresses) if (at < horizon) addresses.delete(ip);
      if (addresses.size === 0) noted.delete(tokenHash);
    }
  }

  // Writes take turns: each flush runs after the one before it, so what a
  // flush returns from includes every use noted before it was called, even
  // while the timer's flush is writing.
  let writes: Promise<void> = Promise.resolve();
  function flush(): Promise<void> {
    writes = writes.then(writePending).catch((error: unknown) => logger.warn({ err: error }, 'could not record API key usage'));
    return writes;
  }

  const timer = deps.background === false ? undefined : setInterval(() => void flush(), deps.flushIntervalMs ?? 5_000);
  timer?.unref();

  return {
    /** Notes an accepted use of a secret from an address, and counts the request (cheap; never waits). */
    record(tokenHash: string, ip: string): void {
      const now = Date.now();
      counts.accepted(tokenHash, now);
      let addresses = noted.get(tokenHash);
      const last = addresses?.get(ip);
      if (last !== undefined && now - last < USAGE_RESOLUTION_MS) return;
      if (!addresses) noted.set(tokenHash, (addresses = new Map()));
      addresses.set(ip, now);
      pending.push({ tokenHash, ip, at: new Date(now) });
    },

    /**
     * Counts a request refused with a secret of a known key (the verifier's
     * verdict, or the key's rate limit named it). A value that names no key
     * (unknown, malformed) is never counted here: it stays with the failure
     * limits of its address.
     */
    refused(keyId: string, outcome: RefusedOutcome): void {
      counts.refused(keyId, outcome);
    },

    /** Writes what was noted so far (the timer calls it; tests and shutdown too). */
    flush,

    async stop(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}

export type UsageTracker = ReturnType<typeof createUsageTracker>;
