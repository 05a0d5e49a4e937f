import type { Knex } from 'knex';
import type Provider from 'oidc-provider';

import { createKeyIntrospection, type ResourceServerClient } from './api-keys/key-introspection.js';
import { KEY_PREFIX } from './api-keys/key-format.js';
import { createRequirements, type Requirements } from './api-keys/scopes.js';
import { createApiKeyService } from './api-keys/service.js';
import { createApiKeyStore, type ApiKeyStore } from './api-keys/store.js';
import { createUsageStore, USAGE_RETENTION_DAYS, type UsageStore } from './api-keys/usage-store.js';
import { createUsageTracker } from './api-keys/usage.js';
import { createApiKeyVerifier } from './api-keys/verifier.js';
import { createAuditLog, type AuditLog } from './audit/service.js';
import { createAuditStore } from './audit/store.js';
import type { Config } from './config.js';
import type { Database, SqlRunner } from './db/database.js';
import type { HousekeepingTask } from './db/housekeeping.js';
import { createJobQueue } from './db/job-queue.js';
import { afterCommit } from './db/transaction.js';
import { createFacilityService } from './facilities/service.js';
import { createFacilityStore } from './facilities/store.js';
import { createIdempotency, RETENTION_HOURS } from './idempotency/service.js';
import { createIdempotencyStore, type IdempotencyStore } from './idempotency/store.js';
import { createLeadService } from './leads/service.js';
import { presentLead } from './leads/service.js';
import { createLeadStore, type LeadStore } from './leads/store.js';
import { createLeadWriter } from './leads/writer.js';
import { createFailureLimits } from './limits/failure-limits.js';
import { createKeyLimits } from './limits/key-limits.js';
import { createSignInLimits } from './limits/sign-in-limits.js';
import { createLimitStore, deleteExpiredCounters } from './limits/store.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { deleteExpiredPayloads } from './oauth/adapter.js';
import { createProvider } from './oauth/provider.js';
import { derivedKeys, loadServerKeys, resolveSecretsKey, type ServerKeys } from './oauth/server-keys.js';
import { createLeakedKeyReports } from './secret-scanning/service.js';
import { createStaffService } from './staff/service.js';
import { createSignIn } from './staff/sign-in.js';
import { createStaffStore, type StaffStore } from './staff/store.js';
import { createWebhookService } from './webhooks/service.js';
import { createWebhookStore } from './webhooks/store.js';
import { createWebhookWorker, type WebhookWorker } from './webhooks/worker.js';

/** An endpoint whose every delivery has failed this long is turned off (API.md). */
const WEBHOOK_DISABLE_AFTER_MS = 5 * 24 * 60 * 60 * 1000;

export interface ServicesOptions {
  /**
   * `server`: what a process serving HTTP runs (oidc-provider, limits,
   * metrics, usage tracking); `operator`: the command line's (the same
   * stores and services, no provider, no limits, no timers).
   */
  role: 'server' | 'operator';
  /** How often noted key uses are written (default 5 s; tests make it shorter). */
  usageFlushIntervalMs?: number;
  /** The provider's signing and cookie keys, when the caller has them (else loaded from the database, see `loadServerKeys`). */
  serverKeys?: ServerKeys;
}

/**
 * The one composition root: every store and service is built here, once,
 * from the configuration and the open database, and handed to whoever
 * needs it (the HTTP app, the operator's command line, the tests and the
 * bench). Nothing else constructs a service.
 */
export async function createServices(config: Config, database: Database, logger: Logger, options: ServicesOptions) {
  const db = database.knex;
  const server = options.role === 'server';
  const requirements = createRequirements(config);

  const auditStore = createAuditStore(db);
  const audit = createAuditLog({ store: auditStore });
  const staffStore = createStaffStore(db);
  const facilityStore = createFacilityStore(db);
  const apiKeyStore = createApiKeyStore(db);
  // Key checks arriving together are judged by one statement; at most a quarter of the pool's connections read verdicts at once.
  const verifier = createApiKeyVerifier(database.fast, { concurrency: poolShare(config, 4) });

  // Resource servers that may introspect keys (RFC 7662): what each one's API requires of a key.
  const resourceServers = new Map<string, ResourceServerClient>([
    [config.leadsApiClient.id, { secret: config.leadsApiClient.secret, requirement: requirements.anyLeadsScope }],
  ]);

  const serverKeys = server
    ? (options.serverKeys ?? (await loadServerKeys(db, { jwks: config.jwks, cookieKeys: config.cookieKeys, secretsKey: await resolveSecretsKey(config, logger) })))
    : undefined;
  const provider = serverKeys ? providerOf({ config, db, logger, staffStore, resourceServers, serverKeys }) : undefined;
  const limits = serverKeys && config.rateLimits ? await createLimits({ config, sql: database.sql, logger, apiKeyStore, serverKeys }) : undefined;
  const metrics = server && config.metricsToken ? createMetrics({ poolFigures: database.poolFigures, webhookBacklog: () => createWebhookStore(db).backlog() }) : undefined;
  if (metrics) audit.onRecorded(metrics.onAuditEvent);
  const usageStore = createUsageStore(db);
  const usage = createUsageTracker({
    db,
    store: usageStore,
    logger,
    audit,
    background: server,
    ...(options.usageFlushIntervalMs ? { flushIntervalMs: options.usageFlushIntervalMs } : {}),
  });

  const apiKeys = createApiKeyService({ config, db, provider, store: apiKeyStore, usage: usageStore, facilities: facilityStore, audit, requirement: requirements.anyLeadsScope });
  const { idempotencyStore, leadStore, leadWriter, leads } = createLeads(config, database, metrics);

  const housekeeping = housekeepingTasks(config, db, idempotencyStore, usageStore);
  const webhooks = createWebhooks({ config, database, logger, audit, apiKeyStore, leadStore, serverKeys, metrics });

  return {
    config,
    database,
    logger,
    requirements,
    provider,
    audit,
    staff: createStaffService({ db, store: staffStore, audit }),
    staffStore,
    signIn: createSignIn({ staffStore, production: config.production, limits: limits?.signIn }),
    facilities: createFacilityService({ db, store: facilityStore, audit }),
    facilityStore,
    apiKeys,
    apiKeyStore,
    verifier,
    usage,
    leads,
    leadWriter,
    leakedKeyReports: createLeakedKeyReports({ apiKeys, store: apiKeyStore, verifier, requirement: requirements.anyLeadsScope }),
    keyIntrospection: createKeyIntrospection({ verifier, clients: resourceServers, issuer: config.issuer, usage }),
    auditStore,
    webhooks: webhooks.service,
    /** The webhook worker of a server (undefined for the command line). */
    webhookWorker: webhooks.worker,
    limits,
    metrics,
    housekeeping,
    /** Found at start: said in /readyz's body (they do not make it fail). */
    warnings: server ? await configurationWarnings(config, apiKeyStore, requirements, logger) : [],

    /** Starts the background work of a server: webhook deliveries and their schedules. */
    async start(): Promise<void> {
      await webhooks.worker?.start();
    },

    /** Writes what is still pending (the last use of keys) and closes what the services opened; the database stays open. */
    async stop(): Promise<void> {
      await webhooks.worker?.stop();
      await usage.stop();
      await limits?.keys.stop();
      await limits?.store.close();
    },
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;

/** oidc-provider over the server's signing and cookie keys. */
function providerOf(deps: {
  config: Config;
  db: Knex;
  logger: Logger;
  staffStore: StaffStore;
  resourceServers: Map<string, ResourceServerClient>;
  serverKeys: ServerKeys;
}): Provider {
  const { config, db, logger } = deps;
  return createProvider({
    config,
    db,
    logger,
    keys: deps.serverKeys,
    staffStore: deps.staffStore,
    isApiKey: (value) => value.startsWith(KEY_PREFIX),
    resourceServerAudiences: new Map([...deps.resourceServers].map(([id, client]) => [id, client.requirement.audience])),
  });
}

/** A share of the Postgres pool's connections (at least one); the embedded database has one connection in all. */
function poolShare(config: Config, divisor: number): number {
  return config.database.kind === 'postgres' ? Math.max(1, Math.floor(config.database.poolMax / divisor)) : 1;
}

/** The Leads API's store, its writer (leads written together) and its service. */
function createLeads(config: Config, database: Database, metrics: Metrics | undefined) {
  const idempotencyStore = createIdempotencyStore(database.knex);
  const leadStore = createLeadStore(database.knex);
  const leadWriter = createLeadWriter(database.fast, {
    // Leads arriving while this many statements write are written together, leaving the pool room for the rest.
    concurrentWrites: poolShare(config, 2),
  });
  const leads = createLeadService({
    store: leadStore,
    writer: leadWriter,
    idempotency: createIdempotency({ store: idempotencyStore }),
    ...(metrics ? { onCreated: metrics.leadCreated } : {}),
  });
  return { idempotencyStore, leadStore, leadWriter, leads };
}

/**
 * Webhooks: endpoints and their events for every role; in a server, the
 * worker that delivers them (on the job queue). Events of other modules
 * hang off the audit log, in the transaction of their cause: a key deleted,
 * revoked or reported leaked is `api_key.revoked`.
 */
function createWebhooks(deps: {
  config: Config;
  database: Database;
  logger: Logger;
  audit: AuditLog;
  apiKeyStore: ApiKeyStore;
  leadStore: LeadStore;
  serverKeys: ServerKeys | undefined;
  metrics: Metrics | undefined;
}) {
  const { config, database, logger, audit, apiKeyStore, leadStore } = deps;
  const db = database.knex;
  const store = createWebhookStore(db);
  const rule = { production: config.production };
  const sealKeys = deps.serverKeys && derivedKeys(deps.serverKeys, 'webhook secrets');
  let worker: WebhookWorker | undefined;
  const relaySoon = () => afterCommit(() => void worker?.relay());
  const service = createWebhookService({ db, store, audit, rule, sealKeys, onDeliveries: () => void worker?.relay() });

  /** An event about a key: its id, name and hint, and what the event adds. */
  async function emitAboutKey(keyId: string, type: 'api_key.revoked' | 'api_key.expiring', extra: Record<string, unknown>): Promise<void> {
    const key = await apiKeyStore.describe(keyId);
    if (!key) return;
    const data = { id: key.id, name: key.name, hint: key.hint, ...extra };
    if ((await service.emit({ facilityId: key.facilityId, type, data })) > 0) relaySoon();
  }

  const REVOKED: Partial<Record<string, string>> = { 'api_key.deleted': 'deleted', 'api_key.revoked': 'revoked', 'api_key.revoked_leaked': 'leaked' };
  audit.beside(async (event) => {
    const reason = REVOKED[event.action];
    if (reason && event.target?.type === 'api_key') await emitAboutKey(event.target.id, 'api_key.revoked', { reason });
  });

  if (sealKeys && deps.serverKeys) {
    worker = createWebhookWorker({
      db,
      store,
      jobs: createJobQueue({ sql: database.sql, logger }),
      audit,
      logger,
      rule,
      retrySchedule: config.webhookRetrySchedule,
      disableAfterMs: WEBHOOK_DISABLE_AFTER_MS,
      sealKeys,
      // A lead as GET /api/v1/leads/{id} shows it, from the id its event keeps.
      async render(event, facilityId) {
        if (event.type !== 'lead.created' || typeof event.data.leadId !== 'string') return event.data;
        const lead = await leadStore.findInFacility(facilityId, event.data.leadId, null);
        return lead ? presentLead(lead) : event.data;
      },
      async sweepExpiringKeys() {
        const notices = await apiKeyStore.claimExpiryNotices();
        for (const notice of notices) {
          const key = await apiKeyStore.describe(notice.keyId);
          await emitAboutKey(notice.keyId, 'api_key.expiring', { expiresAt: key?.expiresAt?.toISOString() ?? null });
        }
        return notices.length;
      },
      ...(deps.metrics ? { onAttempt: deps.metrics.webhookAttempt } : {}),
    });
  }
  return { service, worker, store };
}

/** The limits of API.md "Limits", on the store the configuration names (see `createLimitStore`). */
async function createLimits(deps: { config: Config; sql: SqlRunner; logger: Logger; apiKeyStore: ApiKeyStore; serverKeys: ServerKeys }) {
  const { config, logger } = deps;
  // What people type (an email, an address) is kept only as an HMAC with a key every process derives alike.
  const secret = derivedKeys(deps.serverKeys, 'rate-limit keys')[0]!;
  const store = await createLimitStore({ sql: deps.sql, databaseKind: config.database.kind, redisUrl: config.redisUrl, logger, secret });
  logger.info({ store: store.kind }, 'rate limits on');
  return {
    store,
    keys: createKeyLimits({ loadPolicy: deps.apiKeyStore.ratePolicyOfSecret, store, logger }),
    failures: createFailureLimits({ store, logger }),
    signIn: createSignInLimits({ store }),
  };
}

/**
 * What every process clears on a timer (each an idempotent delete in
 * bounded batches, safe from every process at once). The audit log is not
 * here: only the operator's purge removes old events.
 */
function housekeepingTasks(config: Config, db: Knex, idempotencyStore: IdempotencyStore, usageStore: UsageStore): HousekeepingTask[] {
  return [
    { name: 'expired OAuth payloads', run: () => deleteExpiredPayloads(db) },
    { name: 'old idempotency records', run: () => idempotencyStore.deleteOlderThan(RETENTION_HOURS) },
    { name: `key usage days older than ${USAGE_RETENTION_DAYS} days`, run: () => usageStore.deleteDaysOlderThan(USAGE_RETENTION_DAYS) },
    ...(config.database.kind === 'postgres' ? [{ name: 'ended rate-limit counters', run: () => deleteExpiredCounters(db) }] : []),
  ];
}

/**
 * What the configuration breaks, found at start: a Leads API audience that
 * live keys do not carry (LEADS_API_AUDIENCE changed) refuses them all. One
 * log line each, and /readyz repeats them.
 */
async function configurationWarnings(config: Config, apiKeyStore: ApiKeyStore, requirements: Requirements, logger: Logger): Promise<string[]> {
  const refused = await apiKeyStore.countRefused(requirements.anyLeadsScope, 'wrong_audience').catch((error: unknown) => {
    logger.warn({ err: error }, 'could not check the keys against the configuration at start');
    return 0;
  });
  if (refused === 0) return [];
  const warning = `${refused} API key(s) carry another audience than LEADS_API_AUDIENCE=${config.leadsApiResource} and are refused everywhere. Set LEADS_API_AUDIENCE back to the audience they were minted for, or replace the keys.`;
  logger.warn({ variable: 'LEADS_API_AUDIENCE', audience: config.leadsApiResource, refusedKeys: refused }, warning);
  return [warning];
}
