import PgBoss from 'pg-boss';

import type { Logger } from '../logger.js';
import type { SqlRunner } from './database.js';

/**
 * The job queue: pg-boss (a well-kept Postgres job queue) on the server's
 * own database, both kinds. Chosen over a home-made queue: it fetches with
 * SKIP LOCKED (one worker per job, across processes), expires a job whose
 * worker died and hands it out again, retries with a delay, and keeps
 * cron-like schedules that fire once across processes; it needs no LISTEN
 * (it polls), so it works through a transaction-pooling PgBouncer, and it
 * takes its SQL through a function of ours, so it runs on the embedded
 * database in the one process too. pg-boss 10 is the line that supports
 * Node 20 (11 and later need Node 22).
 */

/** Runs SQL written for Postgres itself on a connection of its own (`Database.sql`). */

/**
 * The queues, with their settings. A job that stays active longer than
 * `expireInSeconds` (its worker died) is handed out again after
 * `retryDelay`, up to `retryLimit` times.
 */
export const QUEUES = {
  /** One attempt to deliver one webhook (see webhooks/worker.ts). */
  'webhook-attempt': { retryLimit: 20, retryDelay: 15, expireInSeconds: 30 },
  /** Notices of keys about to expire: a scheduled sweep. */
  'api-key-expiring': { retryLimit: 3, retryDelay: 60, expireInSeconds: 300 },
} as const;

export type QueueName = keyof typeof QUEUES;

const SCHEMA = 'pgboss';

/** How often each process looks for jobs whose worker died, and for due schedules (seconds). */
const MAINTENANCE_SECONDS = 10;

/**
 * Installs (or brings up to date) pg-boss's schema and our queues: DDL, so
 * it runs as the role that owns the schema, when the database is prepared
 * (see db/migrate.ts). Safe to run again, and from several processes.
 */
export async function installJobQueue(sql: SqlRunner): Promise<void> {
  const boss = new PgBoss({ db: { executeSql: sql }, schema: SCHEMA, migrate: true, supervise: false, schedule: false });
  await boss.start();
  try {
    for (const [name, settings] of Object.entries(QUEUES)) await boss.createQueue(name, { name, policy: 'standard', ...settings });
  } finally {
    await boss.stop({ graceful: false, close: false, wait: true });
  }
}

/** The grants the server's role needs on pg-boss's schema (see db/roles.ts). */
export function jobQueueGrants(role: string): string[] {
  return [
    `grant usage on schema ${SCHEMA} to ${role}`,
    `grant select, insert, update, delete on all tables in schema ${SCHEMA} to ${role}`,
    `grant usage, select on all sequences in schema ${SCHEMA} to ${role}`,
    `grant execute on all functions in schema ${SCHEMA} to ${role}`,
  ];
}

export interface JobOptions {
  /** The job's id: sending the same id twice makes one job (pg-boss inserts with ON CONFLICT DO NOTHING). */
  id?: string;
  /** Not before this time. */
  startAfter?: Date;
}

/**
 * The queue for one process: `send` from anywhere; `work` and `schedule`
 * only in a server, started by `start()`.
 */
export function createJobQueue(deps: { sql: SqlRunner; logger: Logger }) {
  const { logger } = deps;
  const boss = new PgBoss({
    db: { executeSql: deps.sql },
    schema: SCHEMA,
    // The schema is the owning role's to install (installJobQueue); this process only checks it.
    migrate: false,
    supervise: true,
    schedule: true,
    maintenanceIntervalSeconds: MAINTENANCE_SECONDS,
    clockMonitorIntervalSeconds: 60,
    cronMonitorIntervalSeconds: MAINTENANCE_SECONDS,
    cronWorkerIntervalSeconds: 5,
  });
  let failing = false;
  boss.on('error', (error: Error) => {
    // One line per change of state: a database outage must not flood the log.
    if (!failing) logger.warn({ err: error }, 'job queue: a background query failed; it will try again');
    failing = true;
  });
  let started: Promise<unknown> | undefined;
  const loops = new Map<QueueName, { inFlight: number; wake: () => void; stopped: boolean }[]>();

  /** Waits (up to 15 s) for the jobs this process is working on to settle. */
  async function waitForInFlight(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while ([...loops.values()].flat().some((loop) => loop.inFlight > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    start(): Promise<unknown> {
      started ??= boss.start();
      return started;
    },

    async stop(): Promise<void> {
      for (const loop of [...loops.values()].flat()) {
        loop.stopped = true;
        loop.wake();
      }
      await waitForInFlight();
      if (!started) return;
      await started.catch(() => undefined);
      // Running handlers finish (up to the timeout); the database stays open (it is not the queue's).
      await boss.stop({ graceful: true, close: false, wait: true, timeout: 15_000 });
    },

    /** A job for `queue`; resolves with its id, or null when a job with this id exists already. */
    send(queue: QueueName, data: object, options: JobOptions = {}): Promise<string | null> {
      failing = false;
      return boss.send(queue, data, { ...(options.id ? { id: options.id } : {}), ...(options.startAfter ? { startAfter: options.startAfter } : {}) });
    },

    /**
     * Works `queue`'s jobs, up to `concurrency` at a time, each settled on
     * its own (a slow one holds up no other): fetched with pg-boss's
     * `fetch` (SKIP LOCKED: one process per job), completed when the
     * handler resolves, failed when it throws (pg-boss hands it out again
     * after the queue's retry delay). A job whose process dies stays active
     * until it expires, then is handed out again. Polls every `pollMs`, and
     * at once when `notify` says a job was just sent.
     */
    consume<T extends object>(queue: QueueName, options: { concurrency: number; pollMs: number }, handler: (job: PgBoss.Job<T>) => Promise<void>): void {
      const loop = { inFlight: 0, wake: () => undefined as void, stopped: false };
      loops.set(queue, [...(loops.get(queue) ?? []), loop]);
      const settle = async (job: PgBoss.Job<T>) => {
        try {
          await handler(job);
          await boss.complete(queue, job.id);
        } catch (error) {
          await boss.fail(queue, job.id, { reason: String((error as Error).message ?? error) }).catch(() => undefined);
        } finally {
          loop.inFlight -= 1;
          loop.wake();
        }
      };
      void (async () => {
        await started;
        while (!loop.stopped) {
          const room = options.concurrency - loop.inFlight;
          // A fetch counts as in flight, and so does each job it brings, even after stop(): stop() waits for
          // them (bounded) before the database closes, rather than leaving fetched jobs to expire.
          loop.inFlight += 1;
          const jobs = room > 0 ? await boss.fetch<T>(queue, { batchSize: room }).catch(() => []) : [];
          for (const job of jobs) {
            loop.inFlight += 1;
            void settle(job);
          }
          loop.inFlight -= 1;
          if (loop.stopped) break;
          if (jobs.length > 0 && jobs.length === room) continue;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, options.pollMs);
            loop.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          loop.wake = () => undefined;
        }
      })();
    },

    /** Wakes this process's loops of `queue` now (a job was just sent here), instead of at their next poll. */
    notify(queue: QueueName): void {
      for (const loop of loops.get(queue) ?? []) loop.wake();
    },

    /** Sends a job to `queue` on a cron schedule: once per slot across every process. */
    schedule(queue: QueueName, cron: string): Promise<void> {
      return boss.schedule(queue, cron);
    },

    /** Jobs waiting in `queue` (created or to retry), for metrics. */
    size(queue: QueueName): Promise<number> {
      return boss.getQueueSize(queue);
    },
  };
}

export type JobQueue = ReturnType<typeof createJobQueue>;
