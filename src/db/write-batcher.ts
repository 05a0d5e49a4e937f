import { DatabaseBusyError } from './errors.js';

/**
 * Writes that arrive while earlier ones are being written go together: one
 * statement (and one commit) for many, where each alone would pay a commit.
 * A scheduler only: what "together" and "alone" mean is the caller's
 * (`writeTogether`, `writeAlone`); this module decides when each runs.
 *
 * - At most `concurrency` writes run at once; more arriving meanwhile wait,
 *   then go together, `maxBatch` at a time, first come first served.
 * - Alone (the usual case unless the API is busy) an item is written at
 *   once, by itself.
 * - An item that could not start being written within `waitLimitMs` is
 *   answered with a `DatabaseBusyError` (a 503) and never written.
 * - Items a write together leaves out are then written alone, one after
 *   another on that write's turn, so no burst of them takes more than one
 *   write slot.
 * - Queues are kept per `group` (a value: the same string, the same queue);
 *   a group's queue is dropped once empty, so they never pile up.
 */
export interface BatcherOptions<Item, Result> {
  /** How many writes may run at once (at least 1). */
  concurrency: number;
  /** At most this many items in one write. */
  maxBatch: number;
  /** An item still waiting after this long is answered 503. */
  waitLimitMs: number;
  /**
   * Writes several items of one group at once. Resolves with the result of
   * each item it wrote (by item); an item without one was left out, and is
   * then written alone. A rejection rejects the whole batch.
   */
  writeTogether(group: string, items: Item[]): Promise<Map<Item, Result>>;
  /** Writes one item by itself. */
  writeAlone(group: string, item: Item): Promise<Result>;
  /**
   * Starts a write only once this turn of the event loop has taken every
   * item that had arrived (`setImmediate`), instead of at once. For a
   * database that runs on this very thread (the embedded one): its writes
   * never yield to the network, so nothing arrives while one runs, and
   * without this every item would go alone.
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
  let writing = 0;
  let sweeper: NodeJS.Timeout | undefined;
  let gathering = false;
  const startAfterThisTurn = () => {
    if (gathering) return;
    gathering = true;
    setImmediate(() => {
      gathering = false;
      startWrites();
    });
  };

  const alone = (group: string, entry: Waiting<Item, Result>) => options.writeAlone(group, entry.item).then(entry.resolve, entry.reject);

  async function eachAlone(group: string, entries: Waiting<Item, Result>[]): Promise<void> {
    for (const entry of entries) await alone(group, entry);
  }

  async function together(group: string, batch: Waiting<Item, Result>[]): Promise<void> {
    if (batch.length === 1) return alone(group, batch[0]!);
    const written = await options.writeTogether(
      group,
      batch.map((entry) => entry.item),
    );
    const leftOut: Waiting<Item, Result>[] = [];
    for (const entry of batch) {
      if (written.has(entry.item)) entry.resolve(written.get(entry.item)!);
      else leftOut.push(entry);
    }
    await eachAlone(group, leftOut);
  }

  function startWrites(): void {
    for (const [group, queue] of waiting) {
      while (writing < concurrency && queue.length > 0) {
        const batch = queue.splice(0, options.maxBatch);
        writing += 1;
        together(group, batch)
          // Whatever failed, no item waits for ever (settling a settled one does nothing).
          .catch((error: unknown) => batch.forEach((entry) => entry.reject(error)))
          .finally(() => {
            writing -= 1;
            startWrites();
          });
      }
      if (queue.length === 0) waiting.delete(group);
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

  // Items that waited past the limit (every write slot stuck) are answered 503 and dropped from the queue.
  function sweep(): void {
    const late = Date.now() - options.waitLimitMs;
    for (const [group, queue] of waiting) {
      const expired = queue.filter((entry) => entry.since <= late);
      if (expired.length === 0) continue;
      const rest = queue.filter((entry) => entry.since > late);
      if (rest.length > 0) waiting.set(group, rest);
      else waiting.delete(group);
      for (const entry of expired) entry.reject(new DatabaseBusyError(`a write waited ${options.waitLimitMs} ms to start`));
    }
    startWrites();
  }

  return {
    /** Writes `item` with the others of its group that arrive while earlier writes run; resolves once it is written. */
    write(group: string, item: Item): Promise<Result> {
      return new Promise((resolve, reject) => {
        const entry: Waiting<Item, Result> = { item, since: Date.now(), resolve, reject };
        const queue = waiting.get(group);
        if (queue) queue.push(entry);
        else waiting.set(group, [entry]);
        if (options.gather) startAfterThisTurn();
        else startWrites();
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
