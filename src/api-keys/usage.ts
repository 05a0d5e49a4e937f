import type { Knex } from 'knex';

import type { AuditLog } from '../audit/service.js';
import { inTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';

/** A key's last use is written at most this often (per key, whichever process saw it). */
export const USAGE_RESOLUTION_MS = 60_000;

interface Use {
  tokenHash: string;
  ip: string;
  at: Date;
}

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
export function createUsageTracker(deps: { db: Knex; logger: Logger; audit: AuditLog; flushIntervalMs?: number }) {
  const { db, logger, audit } = deps;
  // By secret, then by address: when each was last noted (no string built per request).
  const noted = new Map<string, Map<string, number>>();
  let pending: Use[] = [];

  async function write(uses: Use[]): Promise<void> {
    // One row per secret for the update: its latest use.
    const latest = new Map<string, Use>();
    for (const use of uses) if ((latest.get(use.tokenHash)?.at.getTime() ?? -1) < use.at.getTime()) latest.set(use.tokenHash, use);
    // In one order (by secret): two processes' writes then tend to lock rows in the same order. A write
    // that still meets a deadlock fails alone: it is logged and dropped (last use is a convenience).
    const rows = [...latest.values()].sort((a, b) => (a.tokenHash < b.tokenHash ? -1 : a.tokenHash > b.tokenHash ? 1 : 0));
    await inTransaction(db, async (trx) => {
      await trx.raw(
        `update api_key_secrets s set last_used_at = v.at, last_used_ip = v.ip
         from unnest(?::text[], ?::timestamptz[], ?::text[]) as v(token_hash, at, ip)
         where s.token_hash = v.token_hash
           and (s.last_used_at is null or s.last_used_at <= v.at - (? * interval '1 millisecond'))`,
        [rows.map((use) => use.tokenHash), rows.map((use) => use.at.toISOString()), rows.map((use) => use.ip), USAGE_RESOLUTION_MS],
      );
      const { rows: firsts } = (await trx.raw(
        `with inserted as (
           insert into api_key_ips (key_id, ip)
           select distinct s.key_id, v.ip from unnest(?::text[], ?::text[]) as v(token_hash, ip) join api_key_secrets s on s.token_hash = v.token_hash
           order by s.key_id, v.ip
           on conflict do nothing
           returning key_id, ip)
         select i.key_id, i.ip, k.facility_id, k.name from inserted i join api_keys k on k.id = i.key_id`,
        [uses.map((use) => use.tokenHash), uses.map((use) => use.ip)],
      )) as { rows: { key_id: string; ip: string; facility_id: string; name: string }[] };
      for (const first of firsts) {
        await audit.record({
          facilityId: first.facility_id,
          action: 'api_key.first_used_from_ip',
          actor: { type: 'system', name: 'usage tracking' },
          target: { type: 'api_key', id: first.key_id, name: first.name },
          origin: { ip: first.ip, userAgent: null, requestId: null },
          details: { ip: first.ip },
        });
      }
    });
  }

  /** Writes what is pending now; runs one at a time (see `flush`). */
  async function writePending(): Promise<void> {
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

  const timer = setInterval(() => void flush(), deps.flushIntervalMs ?? 5_000);
  timer.unref();

  return {
    /** Notes a use of a secret from an address (cheap; never waits). */
    record(tokenHash: string, ip: string): void {
      const now = Date.now();
      let addresses = noted.get(tokenHash);
      const last = addresses?.get(ip);
      if (last !== undefined && now - last < USAGE_RESOLUTION_MS) return;
      if (!addresses) noted.set(tokenHash, (addresses = new Map()));
      addresses.set(ip, now);
      pending.push({ tokenHash, ip, at: new Date(now) });
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
