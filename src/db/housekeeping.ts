import type { Logger } from '../logger.js';

/**
 * Runs one bounded delete again and again until it removes less than a full
 * batch: no long lock, no table-wide delete, and safe from every process at
 * once (two of them deleting the same rows just delete fewer each).
 */
export async function deleteInBatches(batchSize: number, deleteBatch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch();
    total += deleted;
    if (deleted < batchSize) return total;
  }
}

export interface HousekeepingTask {
  name: string;
  /** Does one round of clean-up; returns how many rows it removed. */
  run(): Promise<number>;
}

/**
 * Runs clean-up tasks (expired OAuth payloads, old idempotency records) on an
 * interval. Each process may run them: every task is an idempotent DELETE. A
 * failing round is logged and retried next time; it never stops the server.
 */
export function startHousekeeping(tasks: HousekeepingTask[], options: { intervalMs: number; logger: Logger; onRemoved?: (task: string, removed: number) => void }) {
  let running: Promise<void> | undefined;
  const round = async () => {
    for (const task of tasks) {
      try {
        const removed = await task.run();
        if (removed > 0) options.logger.info({ task: task.name, removed }, 'housekeeping');
        options.onRemoved?.(task.name, removed);
      } catch (error) {
        options.logger.warn({ task: task.name, err: error }, 'housekeeping round failed; will retry');
      }
    }
  };
  const timer = setInterval(() => {
    running ??= round().finally(() => {
      running = undefined;
    });
  }, options.intervalMs);
  timer.unref();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
