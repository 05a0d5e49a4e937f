import type { Logger } from '../logger.js';

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
export function startHousekeeping(tasks: HousekeepingTask[], options: { intervalMs: number; logger: Logger }) {
  let running: Promise<void> | undefined;
  const round = async () => {
    for (const task of tasks) {
      try {
        const removed = await task.run();
        if (removed > 0) options.logger.info({ task: task.name, removed }, 'housekeeping');
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
