import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';

import type { Knex } from 'knex';
import type Koa from 'koa';
import type Provider from 'oidc-provider';

import { DEMO, seedDemo } from '../../seeds/demo.js';
import { createApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { createServices, type Services } from '../../src/services.js';
import { createTestDatabase, openMigrated, POSTGRES_ADMIN_URL, type TestDatabase } from './database.js';
import { eventually, type EventuallyOptions } from './eventually.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export const DEMO_PASSWORD = 'demo-password';
/** The tests' secrets key (seals the stored server keys). A test value, not a secret. */
export const TEST_SECRETS_KEY = 'test-secrets-key-for-sealing-server-keys-0001';
export { DEMO };

export interface TestServer {
  url: string;
  config: Config;
  /** knex on the server's database (its `services.database.knex`). */
  db: Knex;
  database: TestDatabase;
  /** What the composition root built for this server (its open database is `services.database`). */
  services: Services;
  provider: Provider;
  app: Koa;
  /** Writes the keys' noted uses now (the server does it every few seconds). */
  flushUsage(): Promise<void>;
  /** Sends this process's key-limit counts to the shared store now (the server does it every 200 ms). */
  flushLimits(): Promise<void>;
  /** Every log line the server wrote, raw. */
  logs: string[];
  close(): Promise<void>;
}

/**
 * The first log line of `server` (parsed) that holds every field of `fields`,
 * once the server has written it: for a test that waits for the server's own
 * word that something happened (a request's access-log line is written when
 * its response or its connection ends, which may be after the client heard).
 */
export function logLine(server: Pick<TestServer, 'logs'>, fields: Record<string, unknown>, options: EventuallyOptions = {}): Promise<Record<string, unknown>> {
  const matches = (line: Record<string, unknown>) => Object.entries(fields).every(([name, value]) => line[name] === value);
  return eventually(
    () =>
      server.logs
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find(matches),
    { what: `a log line with ${JSON.stringify(fields)}`, ...options },
  );
}

/** A writable that keeps every line written to it. */
export function captureLines(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
}

/**
 * Starts the real app on a real HTTP server (port 0) over a fresh database of
 * the suite's kind, migrated and seeded with the demo data.
 */
export async function startTestServer(
  options: {
    env?: Record<string, string>;
    database?: TestDatabase;
    /** Share another server's open database (a second app on the same data, in any mode; the embedded database too). */
    share?: TestServer;
    seed?: boolean;
    /** Check Leads API keys over RFC 7662 (HTTP to this same server) instead of in-process. */
    remoteIntrospection?: boolean;
  } = {},
): Promise<TestServer> {
  const database = options.share?.database ?? options.database ?? (await createTestDatabase());
  // Idle keep-alive sockets outlive the client's (undici closes its own after 4 s): under load, a
  // server closing a socket just as the client reuses it would read as a reset.
  const server = http.createServer({ keepAliveTimeout: 30_000 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    PUBLIC_URL: url,
    LOG_LEVEL: 'info',
    // Stored signing and cookie keys are sealed, as in production.
    SECRETS_KEY: TEST_SECRETS_KEY,
    // Every /api/v1 answer of every test is held to what its route declares (the OpenAPI document's).
    OPENAPI_GUARD: 'on',
    ...(options.remoteIntrospection ? { LEADS_API_KEY_CHECK: 'remote', LEADS_API_INTROSPECTION_URL: `${url}/oauth/token/introspection` } : {}),
    ...database.env,
    ...options.env,
  });
  const logs: string[] = [];
  const logger = createLogger(config.logLevel, captureLines(logs));
  const opened: Database = options.share?.services.database ?? (await openMigrated(database, logger));
  const db = opened.knex;
  if (options.seed !== false && !options.share) await seedDemo(db, { password: DEMO_PASSWORD });
  const services = await createServices(config, opened, logger, { role: 'server' });
  const app = createApp(services);
  await services.start();
  server.on('request', app.callback());
  return {
    url,
    config,
    db,
    database,
    services,
    provider: services.provider!,
    app,
    logs,
    flushUsage: () => services.usage.flush(),
    flushLimits: async () => services.limits?.keys.flush(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.stop();
      if (options.share) return;
      await opened.close();
      if (!options.database) await database.drop();
    },
  };
}

/**
 * A test server on a new Postgres database (whatever TEST_DATABASE says: the
 * embedded database has no network to lose) whose connections all go
 * through a TCP proxy the test controls. The shared Postgres itself is never
 * stopped; the proxy is cut instead.
 */
export async function startServerBehindProxy(options: { poolMax: number; env?: Record<string, string> }) {
  const database = await createTestDatabase('postgres');
  const admin = new URL(POSTGRES_ADMIN_URL);
  const proxy: TcpProxy = await startTcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
  const url = new URL(database.env.DATABASE_URL!);
  url.host = `127.0.0.1:${proxy.port}`;
  const server = await startTestServer({
    database: { ...database, config: { kind: 'postgres', url: url.toString(), poolMax: options.poolMax }, env: { DATABASE_URL: url.toString() } },
    ...(options.env ? { env: options.env } : {}),
  });
  return {
    server,
    proxy,
    database,
    async close() {
      await server.close();
      await proxy.close();
      await database.drop();
    },
  };
}
