import type { Refusal } from './verifier.js';

/**
 * Why a request that presented a key's secret was refused, as the usage
 * counts keep it: the verifier's reasons (`malformed` aside: a malformed
 * value names no key) and the key's rate limit.
 */
export const REFUSED_OUTCOMES = [
  'unknown',
  'deleted',
  'revoked',
  'expired',
  'rotated_out',
  'invalid',
  'wrong_audience',
  'insufficient_scope',
  'location_not_allowed',
  'location_required',
  'rate_limited',
] as const satisfies readonly (Exclude<Refusal, 'malformed'> | 'rate_limited')[];

export type RefusedOutcome = (typeof REFUSED_OUTCOMES)[number];

// A reason the verifier gains must be listed above (else this line fails to compile).
const everyReasonListed: [Exclude<Refusal, 'malformed' | RefusedOutcome>] extends [never] ? true : never = true;
void everyReasonListed;

/** How a request with a key's secret ended: accepted, or refused and why. */
export type Outcome = 'accepted' | RefusedOutcome;

/** Requests of one key (named by the key, or by one of its secrets) on one UTC day that ended one way. */
export interface DailyCount {
  /** The secret's hash, when the request was counted by its secret (an accepted one). */
  tokenHash: string | null;
  /** The key, when the request was counted by its key (a refused one: the verifier or the limit named it). */
  keyId: string | null;
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  outcome: Outcome;
  requests: number;
}

const DAY_MS = 86_400_000;

/** One UTC day's counts: accepted requests by secret, refused ones by key and reason. */
interface Day {
  accepted: Map<string, number>;
  refused: Map<string, Map<RefusedOutcome, number>>;
}

const newDay = (): Day => ({ accepted: new Map(), refused: new Map() });
const isoDay = (epochDay: number) => new Date(epochDay * DAY_MS).toISOString().slice(0, 10);

/** The last `count` UTC days up to the one `now` falls on, oldest first (`YYYY-MM-DD`). */
export function lastDays(count: number, now = Date.now()): string[] {
  const today = Math.floor(now / DAY_MS);
  return Array.from({ length: count }, (_, index) => isoDay(today - count + 1 + index));
}

/**
 * Requests counted in memory, per key or secret, UTC day and outcome, until
 * the usage tracker writes them: counting a request is a map increment (no
 * string built, no allocation once a secret is known that day). `take()`
 * hands over everything counted so far and starts afresh; `add()` puts back
 * what could not be written, so a failed write loses nothing and the counts
 * never grow beyond one entry per key, day and outcome.
 */
export function createDailyCounts() {
  let days = new Map<number, Day>();
  let currentDay = -1;
  let current = newDay();

  function dayOf(now: number): Day {
    const epochDay = Math.floor(now / DAY_MS);
    if (epochDay !== currentDay) {
      currentDay = epochDay;
      current = days.get(epochDay) ?? newDay();
      days.set(epochDay, current);
    }
    return current;
  }

  function addRefused(day: Day, keyId: string, outcome: RefusedOutcome, requests: number): void {
    let reasons = day.refused.get(keyId);
    if (!reasons) day.refused.set(keyId, (reasons = new Map()));
    reasons.set(outcome, (reasons.get(outcome) ?? 0) + requests);
  }

  function rowsOf(epochDay: number, day: Day): DailyCount[] {
    const date = isoDay(epochDay);
    const rows: DailyCount[] = [];
    for (const [tokenHash, requests] of day.accepted) rows.push({ tokenHash, keyId: null, day: date, outcome: 'accepted', requests });
    for (const [keyId, reasons] of day.refused) {
      for (const [outcome, requests] of reasons) rows.push({ tokenHash: null, keyId, day: date, outcome, requests });
    }
    return rows;
  }

  return {
    /** A request accepted with this secret. */
    accepted(tokenHash: string, now = Date.now()): void {
      const { accepted } = dayOf(now);
      accepted.set(tokenHash, (accepted.get(tokenHash) ?? 0) + 1);
    },

    /** A request with a secret of this key, refused for `outcome`. */
    refused(keyId: string, outcome: RefusedOutcome, now = Date.now()): void {
      addRefused(dayOf(now), keyId, outcome, 1);
    },

    /** Everything counted so far, as rows; the counts start afresh. */
    take(): DailyCount[] {
      const taken = days;
      days = new Map();
      currentDay = -1;
      return [...taken].flatMap(([epochDay, day]) => rowsOf(epochDay, day));
    },

    /** Puts rows back (a write that failed): they are written with the next ones. */
    add(rows: DailyCount[]): void {
      for (const row of rows) {
        const day = dayOf(Date.parse(`${row.day}T00:00:00Z`));
        if (row.tokenHash !== null) day.accepted.set(row.tokenHash, (day.accepted.get(row.tokenHash) ?? 0) + row.requests);
        else if (row.keyId !== null && row.outcome !== 'accepted') addRefused(day, row.keyId, row.outcome, row.requests);
      }
    },
  };
}

export type DailyCounts = ReturnType<typeof createDailyCounts>;
