import { createHash, timingSafeEqual } from 'node:crypto';

import type { Context, Next } from 'koa';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { NewAuditEvent } from '../audit/model.js';
import type { RequestState } from '../http/request-context.js';

/** A request's route template for labels: the router's matched path, or a fixed name (never a raw path). */
function routeOf(ctx: Context): string {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (ctx.path.startsWith('/oauth/')) return '/oauth/*';
  if (ctx.path.startsWith('/console/')) return '/console/*';
  return typeof matched === 'string' ? matched : 'unmatched';
}

const KEY_ENDINGS: Record<string, string> = { 'api_key.deleted': 'deleted', 'api_key.revoked': 'revoked', 'api_key.revoked_leaked': 'leaked' };

/**
 * Prometheus metrics (prom-client): requests by route template, method and
 * status, latency, keys created / rotated / ended, leads created, refused
 * keys by reason, limits hit, housekeeping, the database pool, and the
 * process. Route labels are templates (`/api/v1/api-keys/:id`), never raw
 * paths: no id ever becomes a label.
 */
export function createMetrics(deps: {
  poolFigures: () => { size: number; inUse: number; idle: number; waiting: number };
  /** Webhook deliveries waiting, and how long the oldest has waited past its time (read when scraped). */
  webhookBacklog?: () => Promise<{ pending: number; oldestSeconds: number }>;
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by route template, method and status.', labelNames: ['route', 'method', 'status'], registers });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer, by route template and method.',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const keysCreated = new Counter({ name: 'api_keys_created_total', help: 'API keys created.', registers });
  const keysRotated = new Counter({ name: 'api_keys_rotated_total', help: 'API keys rotated.', registers });
  const keysEnded = new Counter({ name: 'api_keys_ended_total', help: 'API keys deleted or revoked, by how (deleted, revoked, leaked).', labelNames: ['how'], registers });
  const leadsCreated = new Counter({ name: 'leads_created_total', help: 'Leads created through the Leads API (replays not counted).', registers });
  const keyRefusals = new Counter({ name: 'api_key_refusals_total', help: 'Requests whose API key was refused, by the verifier\'s reason.', labelNames: ['reason'], registers });
  const limitsHit = new Counter({ name: 'rate_limits_hit_total', help: 'Requests answered 429, by route template.', labelNames: ['route'], registers });
  const housekeeping = new Counter({ name: 'housekeeping_rows_removed_total', help: 'Rows removed by housekeeping, by task.', labelNames: ['task'], registers });
  const pool = deps.poolFigures;
  const webhookAttempts = new Counter({ name: 'webhook_attempts_total', help: 'Webhook delivery attempts, by outcome (succeeded, failed: an answer other than 2xx, error: no answer).', labelNames: ['outcome'], registers });
  const webhookLatency = new Histogram({
    name: 'webhook_attempt_duration_seconds',
    help: 'Time a webhook attempt took, to the receiver\'s answer or the failure.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const backlog = async () => (deps.webhookBacklog ? await deps.webhookBacklog().catch(() => ({ pending: 0, oldestSeconds: 0 })) : { pending: 0, oldestSeconds: 0 });
  new Gauge({ name: 'webhook_deliveries_pending', help: 'Webhook deliveries waiting for an attempt (the queue depth).', registers, async collect() { this.set((await backlog()).pending); } });
  new Gauge({ name: 'webhook_oldest_pending_seconds', help: 'How long the oldest pending webhook delivery has waited past its time.', registers, async collect() { this.set((await backlog()).oldestSeconds); } });
  new Gauge({ name: 'db_pool_size', help: 'Connections the database pool may hold.', registers, collect() { this.set(pool().size); } });
  new Gauge({ name: 'db_pool_in_use', help: 'Connections in use.', registers, collect() { this.set(pool().inUse); } });
  new Gauge({ name: 'db_pool_idle', help: 'Connections open and idle.', registers, collect() { this.set(pool().idle); } });
  new Gauge({ name: 'db_pool_waiting', help: 'Requests waiting for a connection.', registers, collect() { this.set(pool().waiting); } });

  return {
    registry,

    /** Mounted first: times every request and counts it under its route template once it is answered. */
    middleware: async function measure(ctx: Context, next: Next): Promise<void> {
      const started = process.hrtime.bigint();
      ctx.res.once('close', () => {
        const route = routeOf(ctx);
        requests.inc({ route, method: ctx.method, status: String(ctx.status) });
        latency.observe({ route, method: ctx.method }, Number(process.hrtime.bigint() - started) / 1e9);
        const refusal = (ctx.state as RequestState | undefined)?.refusal;
        if (refusal) keyRefusals.inc({ reason: refusal });
        if (ctx.status === 429) limitsHit.inc({ route });
      });
      await next();
    },

    /** Counts key changes from the audit log's committed events. */
    onAuditEvent(event: NewAuditEvent): void {
      if (event.action === 'api_key.created') keysCreated.inc();
      else if (event.action === 'api_key.rotated') keysRotated.inc();
      else if (KEY_ENDINGS[event.action]) keysEnded.inc({ how: KEY_ENDINGS[event.action] });
    },

    /** Counts a webhook attempt and its time. */
    webhookAttempt(outcome: { ok: boolean; status: number | null; durationMs: number }): void {
      webhookAttempts.inc({ outcome: outcome.ok ? 'succeeded' : outcome.status === null ? 'error' : 'failed' });
      webhookLatency.observe(outcome.durationMs / 1000);
    },

    leadCreated(): void {
      leadsCreated.inc();
    },

    housekeepingRemoved(task: string, removed: number): void {
      housekeeping.inc({ task }, removed);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** GET /metrics: Prometheus text, to the bearer of METRICS_TOKEN (compared in constant time). */
export function createMetricsRoute(metrics: Metrics, token: string) {
  const expected = createHash('sha256').update(token).digest();
  return async function serveMetrics(ctx: Context): Promise<void> {
    const presented = /^Bearer (.+)$/i.exec(ctx.get('Authorization'))?.[1] ?? '';
    if (!timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'The metrics need Authorization: Bearer <METRICS_TOKEN>.' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}
