import { DatabaseBusyError } from './errors.js';

/**
 * Statements that arrive together go together: one statement for many
 * items, where each alone would pay a round trip, a statement's overhead
 * and, for a write, a commit. The Leads API's writes (leads written
 * together) and the key verifier's reads (verdicts judged together) use it.
 * A scheduler only: what "together" and "alone" mean is the caller's
 * (`runTogether`, `runAlone`); this module decides when each runs.
 *
 * - At most `concurrency` statements run at once; more items arriving
 *   meanwhile wait, then go together, `maxBatch` at a time, first come
 *   first served.
 * - With `gather`, the items of one turn of the event loop go together too.
 * - Alone (the usual case unless the API is busy) an item is run by
 *   itself: at once, or with `gather` at the end of the turn.
 * - Groups take free slots in turn, so one busy group cannot starve another.
 * - An item that could not start within `waitLimitMs` is answered with a
 *   `DatabaseBusyError` (a 503) and never run.
 * - Items a statement together leaves out are then run alone, one after
 *   another on that statement's turn, so no burst of them takes more than
 *   one slot.
 * - Queues are kept per `group` (a value: the same string, the same queue);
 *   a group's queue is dropped once empty, so they never pile up.
 */
export interface BatcherOptions<Item, Result> {
  /** How many statements may run at once (at least 1). */
  concurrency: number;
  /** At most this many items in one statement. */
  maxBatch: number;
  /** An item still waiting after this long is answered 503. */
  waitLimitMs: number;
  /**
   * An item whose statement is still running after this long is answered
   * 503 (for reads: a write's outcome must wait for its statement). Its slot
   * stays taken until the statement ends.
   */
  runLimitMs?: number;
  /**
   * Runs several items of one group at once. Resolves with the result of
   * each item it ran (by item); an item without one was left out, and is
   * then run alone. A rejection rejects the whole batch.
   */
  runTogether(group: string, items: Item[]): Promise<Map<Item, Result>>;
  /** Runs one item by itself. */
  runAlone(group: string, item: Item): Promise<Result>;
  /**
   * Starts a statement only once this turn of the event loop has taken
   * every item that had arrived (`setImmediate`, in the same turn), instead
   * of at once: the requests one turn read go in one statement. For a
   * database on this very thread (the embedded one) it is what makes
   * anything go together (its statements never yield to the network, so
   * nothing arrives while one runs); on Postgres it makes the batches of a
   * busy API larger without waiting for a slot to be taken.
   */
  gather?: boolean;
}

interface Waiting<Item, Result> {
  item: Item;
  /** When it started waiting (ms since the epoch). */
  since: number;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export function createBatcher<Item, Result>(options: BatcherOptions<Item, Result>) {
  const concurrency = Math.max(1, options.concurrency);
  const waiting = new Map<string, Waiting<Item, Result>[]>();
  let running = 0;
  let sweeper: NodeJS.Timeout | undefined;
  let gathering = false;
  const startAfterThisTurn = () => {
    if (gathering) return;
    gathering = true;
    setImmediate(() => {
      gathering = false;
      startStatements();
    });
  };

  const alone = (group: string, entry: Waiting<Item, Result>) => options.runAlone(group, entry.item).then(entry.resolve, entry.reject);

  async function eachAlone(group: string, entries: Waiting<Item, Result>[]): Promise<void> {
    for (const entry of entries) await alone(group, entry);
  }

  async function together(group: string, batch: Waiting<Item, Result>[]): Promise<void> {
    if (batch.length === 1) return alone(group, batch[0]!);
    const done = await options.runTogether(
      group,
      batch.map((entry) => entry.item),
    );
    const leftOut: Waiting<Item, Result>[] = [];
    for (const entry of batch) {
      if (done.has(entry.item)) entry.resolve(done.get(entry.item)!);
      else leftOut.push(entry);
    }
    await eachAlone(group, leftOut);
  }

  function start(group: string, batch: Waiting<Item, Result>[]): void {
    running += 1;
    // A statement past its run limit: its items are answered 503 now; its slot stays taken until it ends.
    const limit =
      options.runLimitMs === undefined
        ? undefined
        : setTimeout(() => batch.forEach((entry) => entry.reject(new DatabaseBusyError(`a statement ran past ${options.runLimitMs} ms`))), options.runLimitMs).unref();
    together(group, batch)
      // Whatever failed, no item waits for ever (settling a settled one does nothing).
      .catch((error: unknown) => batch.forEach((entry) => entry.reject(error)))
      .finally(() => {
        clearTimeout(limit);
        running -= 1;
        startStatements();
      });
  }

  // Groups take free slots in turn, a batch each (a group served goes to the back): one busy group cannot starve another.
  function startStatements(): void {
    let started = true;
    while (started && running < concurrency) {
      started = false;
      for (const [group, queue] of [...waiting]) {
        if (running >= concurrency) break;
        waiting.delete(group);
        if (queue.length === 0) continue;
        start(group, queue.splice(0, options.maxBatch));
        started = true;
        if (queue.length > 0) waiting.set(group, queue);
      }
    }
    // While items wait, a timer answers those that waited too long; none runs otherwise.
    if (waiting.size > 0 && !sweeper) {
      sweeper = setInterval(sweep, Math.min(1_000, options.waitLimitMs));
      sweeper.unref();
    } else if (waiting.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }

  // Items that waited past the limit (every slot stuck) are answered 503 and dropped from the queue.
  function sweep(): void {
    const late = Date.now() - options.waitLimitMs;
    for (const [group, queue] of waiting) {
      const expired = queue.filter((entry) => entry.since <= late);
      if (expired.length === 0) continue;
      const rest = queue.filter((entry) => entry.since > late);
      if (rest.length > 0) waiting.set(group, rest);
      else waiting.delete(group);
      for (const entry of expired) entry.reject(new DatabaseBusyError(`a statement waited ${options.waitLimitMs} ms to start`));
    }
    startStatements();
  }

  return {
    /** Runs `item` with the others of its group that arrive together (see above); resolves with its result. */
    run(group: string, item: Item): Promise<Result> {
      return new Promise((resolve, reject) => {
        const entry: Waiting<Item, Result> = { item, since: Date.now(), resolve, reject };
        const queue = waiting.get(group);
        if (queue) queue.push(entry);
        else waiting.set(group, [entry]);
        if (options.gather) startAfterThisTurn();
        else startStatements();
      });
    },

    /** How many items wait (for metrics and tests). */
    waiting(): number {
      let count = 0;
      for (const queue of waiting.values()) count += queue.length;
      return count;
    },
  };
}

export type Batcher<Item, Result> = ReturnType<typeof createBatcher<Item, Result>>;
