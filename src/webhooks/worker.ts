import { createHash } from 'node:crypto';

import type { Knex } from 'knex';
import { Webhook } from 'standardwebhooks';

import type { AuditLog } from '../audit/service.js';
import type { JobQueue } from '../db/job-queue.js';
import { inTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import { unseal } from '../shared/sealed.js';
import type { AddressRule } from './addresses.js';
import { postDelivery, type SendOutcome } from './sender.js';
import type { Claimed, WebhookStore } from './store.js';

/** An attempt's claim older than this was left by a process that died (longer than any attempt can run). */
const STALE_CLAIM_SECONDS = 45;
/** How many attempts one process makes at once. */
const ATTEMPTS_AT_ONCE = 32;
/** Deliveries whose next attempt is enqueued at once, per round of the relay. */
const RELAY_BATCH = 200;

export interface WebhookWorkerDeps {
  db: Knex;
  store: WebhookStore;
  jobs: JobQueue;
  audit: AuditLog;
  logger: Logger;
  rule: AddressRule;
  /** The waits between attempts, in seconds: n waits make n + 1 attempts (WEBHOOK_RETRY_SCHEDULE). */
  retrySchedule: number[];
  /** An endpoint whose every delivery has failed this long is turned off. */
  disableAfterMs: number;
  /** Opens sealed secrets (derived from the server's keys). */
  sealKeys: Buffer[];
  /** An event's `data` as delivered (a lead as GET /api/v1/leads/{id} shows it, rendered from its id). */
  render(event: Claimed['event'], facilityId: string): Promise<Record<string, unknown>>;
  /** Notices of keys about to expire: stores their events (called in a transaction by the scheduled sweep). */
  sweepExpiringKeys(): Promise<number>;
  onAttempt?: (outcome: SendOutcome) => void;
}

/** The job of attempt `attempt` of a delivery has this id, whoever sends it: sending it twice makes one job. */
export function attemptJobId(deliveryId: string, attempt: number): string {
  const hex = createHash('sha256').update(`${deliveryId}:${attempt}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Delivers webhooks, at least once, across restarts, crashes and processes:
 *
 * - The relay: a delivery's next attempt (a new one, a retry at its time, a
 *   staff member's retry) becomes a job of the queue (pg-boss), with an id
 *   made of the delivery and the attempt, so two processes relaying the
 *   same attempt make one job. It runs right after a change that makes
 *   deliveries, after each attempt, and every second (what a process that
 *   died left behind).
 * - An attempt claims its delivery first (one process at a time, even if
 *   its job were handed out twice), signs the body with every live secret
 *   (the Standard Webhooks library), posts it to the address checked at
 *   connection time, and records the outcome: succeeded; pending again at
 *   the next time of the schedule; or failed. An endpoint failing for
 *   `disableAfterMs` is turned off, with an audit event.
 * - `api_key.expiring`: a sweep on a schedule (once per slot across
 *   processes) stores the notices due.
 */
export function createWebhookWorker(deps: WebhookWorkerDeps) {
  const { db, store, jobs, logger } = deps;

  let relaying: Promise<void> | undefined;
  let again = false;
  async function relayOnce(): Promise<void> {
    const due = await store.dueToEnqueue(RELAY_BATCH);
    for (const entry of due) await jobs.send('webhook-attempt', { deliveryId: entry.id, attempt: entry.attempt }, { id: attemptJobId(entry.id, entry.attempt), startAfter: entry.notBefore });
    await store.markEnqueued(due);
    if (due.length > 0) jobs.notify('webhook-attempt');
    if (due.length === RELAY_BATCH) again = true;
  }
  /** Relays what is due; a call while a round runs makes one more round after it. */
  function relay(): Promise<void> {
    if (relaying) {
      again = true;
      return relaying;
    }
    relaying = (async () => {
      do {
        again = false;
        await relayOnce().catch((error: unknown) => logger.warn({ err: error }, 'webhooks: could not enqueue deliveries; will try again'));
      } while (again);
    })().finally(() => {
      relaying = undefined;
    });
    return relaying;
  }

  function sign(claimed: Claimed, body: string, at: Date): string {
    return claimed.secrets.map((sealed) => new Webhook(unseal(sealed, deps.sealKeys) as string).sign(claimed.event.id, at, body)).join(' ');
  }

  /** What a failed attempt leads to: the next attempt's time, or null when the schedule is spent. */
  const retryAt = (attempt: number) => (attempt - 1 < deps.retrySchedule.length ? new Date(Date.now() + deps.retrySchedule[attempt - 1]! * 1000) : null);

  async function record(claimed: Claimed, outcome: SendOutcome): Promise<void> {
    const next = outcome.ok ? null : retryAt(claimed.delivery.attempt);
    await inTransaction(db, async () => {
      const failingSince = await store.finish(claimed.delivery.id, claimed.endpoint.id, { ...outcome, retryAt: next });
      if (!failingSince || Date.now() - failingSince.getTime() < deps.disableAfterMs) return;
      const reason = `Every delivery failed for ${Math.round(deps.disableAfterMs / 86_400_000)} days (the last: ${outcome.error ?? `status ${outcome.status}`}). Fix the receiver, then turn the endpoint on again.`;
      const disabled = await store.disable(claimed.endpoint.id, reason);
      if (disabled) {
        await deps.audit.record({
          facilityId: disabled.facilityId,
          action: 'webhook_endpoint.disabled',
          actor: { type: 'system', name: 'webhook deliveries' },
          target: { type: 'webhook_endpoint', id: claimed.endpoint.id, name: disabled.name },
          origin: { ip: null, userAgent: null, requestId: null },
          details: { reason },
        });
      }
    });
  }

  /** One attempt of one delivery: 'busy' when another process is at it (the job is tried again later). */
  async function attempt(deliveryId: string, number: number): Promise<'done' | 'busy'> {
    const claimed = await store.claim(deliveryId, number, STALE_CLAIM_SECONDS);
    if (claimed === 'busy') return 'busy';
    if (!claimed) return 'done';
    const data = await deps.render(claimed.event, claimed.endpoint.facilityId);
    const body = JSON.stringify({ type: claimed.event.type, timestamp: claimed.event.createdAt.toISOString(), data });
    const at = new Date();
    const outcome = await postDelivery(
      new URL(claimed.endpoint.url),
      body,
      { 'webhook-id': claimed.event.id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': sign(claimed, body, at) },
      { timeoutMs: 10_000, maxResponseBytes: 64 * 1024, rule: deps.rule },
    );
    await record(claimed, outcome);
    deps.onAttempt?.(outcome);
    if (!outcome.ok) void relay();
    return 'done';
  }

  /** Stores the notices due of keys about to expire, then relays them. */
  async function sweep(): Promise<number> {
    const notices = await inTransaction(db, () => deps.sweepExpiringKeys());
    if (notices > 0) void relay();
    return notices;
  }

  let timer: NodeJS.Timeout | undefined;
  return {
    relay,
    attempt,
    sweep,

    /** Works the queue in this process: attempts, the relay's timer, the expiry sweep. */
    async start(): Promise<void> {
      await jobs.start();
      // Attempts run side by side, each on its own (a slow receiver holds up no other).
      jobs.consume<{ deliveryId: string; attempt: number }>('webhook-attempt', { concurrency: ATTEMPTS_AT_ONCE, pollMs: 500 }, async (job) => {
        const result = await attempt(job.data.deliveryId, job.data.attempt).catch((error: unknown) => {
          logger.warn({ err: error, deliveryId: job.data.deliveryId }, 'webhooks: an attempt failed unexpectedly; it will be tried again');
          throw error;
        });
        if (result === 'busy') throw new Error('another process is attempting this delivery');
      });
      jobs.consume('api-key-expiring', { concurrency: 1, pollMs: 5_000 }, async () => {
        await sweep();
      });
      await jobs.schedule('api-key-expiring', '*/5 * * * *');
      timer = setInterval(() => void relay(), 1_000);
      timer.unref();
      void relay();
    },

    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await relaying;
      await jobs.stop();
    },
  };
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>;
