import { createHmac } from 'node:crypto';

import type { Knex } from 'knex';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

import { deleteInBatches } from '../db/housekeeping.js';
import type { SqlRunner } from '../db/database.js';
import type { Logger } from '../logger.js';

/** Where limit counters live: shared by every process (Redis, Postgres) or in this process only (the embedded database). */
export type LimitStoreKind = 'redis' | 'postgres' | 'memory';

export const RATE_LIMIT_TABLE = 'rate_limits';

export interface LimitStore {
  kind: LimitStoreKind;
  /**
   * A counter of `points` per `durationSeconds`, under a name of its own. On a
   * shared store, a failing store falls back to counting in this process (an
   * in-memory insurance limiter): a limit never becomes an outage, and never
   * disappears either.
   */
  limiter(name: string, points: number, durationSeconds: number): RateLimiterAbstract;
  /**
   * What a counter is keyed by instead of `value` (an email as typed, an
   * address, a device cookie): an HMAC-SHA256 under the store's secret, so
   * the store (a table any copy of the database holds, or Redis) keeps
   * nothing a guess can be checked against without that secret. People type
   * passwords into the email field.
   */
  keyOf(value: string): string;
  close(): Promise<void>;
}

/**
 * The store of every limit: Redis when REDIS_URL is set, else the Postgres
 * of DATABASE_URL (the `rate_limits` table), else memory (the embedded
 * database is for one process). rate-limiter-flexible does the counting.
 * The Redis client is loaded only when REDIS_URL is set: loading it costs a
 * process about 20 MB of memory.
 */
export async function createLimitStore(options: {
  /**
   * The database's own SQL runner (`Database.sql`): the counters' statements
   * go through it, so they are named (prepared once per connection) only
   * when prepared statements are on, and work behind a transaction pooler.
   */
  sql: SqlRunner;
  databaseKind: 'postgres' | 'embedded';
  redisUrl: string | undefined;
  logger: Logger;
  /** The key of `keyOf` (see derivedKeys in oauth/server-keys.ts). */
  secret: Buffer;
}): Promise<LimitStore> {
  const { logger, secret } = options;
  // rate-limiter-flexible's 'client' store type: it calls query({ name, text, values }) and releases nothing.
  const storeClient = { query: (query: { name?: string; text: string; values?: unknown[] }) => options.sql(query.text, query.values, query.name) };
  const redis = options.redisUrl
    ? new (await import('ioredis')).Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: false })
    : undefined;
  // A Redis that goes away must not flood the log: one line per change of state.
  let redisDown = false;
  redis?.on('error', (error: Error) => {
    if (!redisDown) logger.warn({ err: error }, 'rate-limit store (Redis) unreachable; limits count in this process until it is back');
    redisDown = true;
  });
  redis?.on('ready', () => {
    if (redisDown) logger.info('rate-limit store (Redis) is back');
    redisDown = false;
  });
  const kind: LimitStoreKind = redis ? 'redis' : options.databaseKind === 'postgres' ? 'postgres' : 'memory';
  const made = new Map<string, RateLimiterAbstract>();

  return {
    kind,
    limiter(name, points, durationSeconds) {
      const id = `${name}:${points}:${durationSeconds}`;
      let limiter = made.get(id);
      if (limiter) return limiter;
      const common = { keyPrefix: name, points, duration: durationSeconds };
      const insuranceLimiter = new RateLimiterMemory(common);
      if (redis) {
        limiter = new RateLimiterRedis({ ...common, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter });
      } else if (kind === 'postgres') {
        limiter = new RateLimiterPostgres({
          ...common,
          storeClient,
          storeType: 'client',
          tableName: RATE_LIMIT_TABLE,
          tableCreated: true,
          // Expired counters are removed by the housekeeping purge, in bounded batches.
          clearExpiredByTimeout: false,
          insuranceLimiter,
        });
      } else {
        limiter = insuranceLimiter;
      }
      made.set(id, limiter);
      return limiter;
    },
    keyOf(value) {
      return createHmac('sha256', secret).update(value).digest('base64url');
    },
    async close() {
      redis?.disconnect();
    },
  };
}

/** rate-limiter-flexible rejects with a RateLimiterRes when the points are spent, with an Error when the store failed. */
export function isLimitReached(reason: unknown): reason is RateLimiterRes {
  return reason instanceof RateLimiterRes;
}

/** Seconds until a spent limit lets requests through again (at least 1). */
export function retryAfterSeconds(result: RateLimiterRes): number {
  return Math.max(1, Math.ceil(result.msBeforeNext / 1000));
}

/** Deletes the shared store's counters that ended more than an hour ago (Postgres), in bounded batches. */
export async function deleteExpiredCounters(db: Knex, batchSize = 1000): Promise<number> {
  return deleteInBatches(batchSize, () =>
    db(RATE_LIMIT_TABLE)
      .whereIn('key', db(RATE_LIMIT_TABLE).select('key').where('expire', '<', Date.now() - 3_600_000).limit(batchSize))
      .delete(),
  );
}
