import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { hasDemoData, isEmpty, seedDemo } from '../seeds/demo.js';
import { createApp } from './app.js';
import { ConfigError, DEV_DEFAULTS, loadConfig, type Config } from './config.js';
import { createDatabase } from './db/database.js';
import { startHousekeeping } from './db/housekeeping.js';
import { prepareDatabase } from './db/migrate.js';
import { createLogger, stdoutDestination, type Logger } from './logger.js';
import { createServices } from './services.js';

const HOUSEKEEPING_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Starts the server: read config, open the database, migrate, (seed a fresh
 * embedded database), listen. Returns `stop`, which drains: it stops
 * accepting, lets in-flight requests finish, then closes the pool.
 */
export async function start(config: Config, logger: Logger) {
  const database = await createDatabase(config.database, { logger });
  const db = database.knex;
  const applied = await prepareDatabase(config.database, database, logger);
  if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
  if (config.database.kind === 'embedded' && !config.production && (await isEmpty(db))) {
    await seedDemo(db, { password: config.demoPassword });
    logger.info('fresh embedded database: demo data loaded (see README for the accounts)');
  }
  const seeded = !config.production && (await hasDemoData(db));

  const services = await createServices(config, database, logger, { role: 'server' });
  const app = createApp(services);
  await services.start();
  const cleanup = startHousekeeping(services.housekeeping, {
    intervalMs: HOUSEKEEPING_INTERVAL_MS,
    logger,
    ...(services.metrics ? { onRemoved: services.metrics.housekeepingRemoved } : {}),
  });

  let draining = false;
  const server = http.createServer(app.callback());
  server.on('request', (_req, res) => {
    // While draining, tell keep-alive clients not to reuse the connection, and
    // close each one as soon as its in-flight response is done.
    if (draining) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      if (draining) setImmediate(() => server.closeIdleConnections());
    });
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, publicUrl: config.publicUrl, database: config.database.kind }, 'listening');
  if (!config.production) {
    // One line for a person at the terminal (the JSON lines around it are for machines).
    const demo = seeded ? ` and sign in as owner@demo.test with the password ${config.demoPassword === DEV_DEFAULTS.demoPassword ? 'demo-password' : 'DEMO_PASSWORD'}` : '';
    process.stderr.write(`\nOctiv is ready: open ${config.publicUrl}/console/${demo}.\n\n`);
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      draining = true;
      logger.info('draining: no new connections, finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => {
        logger.warn('drain timeout reached; closing remaining connections');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      await closed;
      clearTimeout(force);
      await cleanup.stop();
      await services.stop();
      await database.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { server, port, stop };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const destination = stdoutDestination();
  const logger = createLogger(config.logLevel, destination);
  // Every request path catches its own errors; these are for bugs. A stray
  // rejection is logged and the server keeps serving; an uncaught exception
  // leaves the process in an unknown state, so it is logged and the process exits.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; exiting');
    destination.flushSync();
    process.exit(1);
  });
  try {
    const { stop } = await start(config, logger);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        logger.info({ signal }, 'signal received');
        stop().then(
          () => {
            destination.flushSync();
            process.exitCode = 0;
            // Everything is written and closed: a handle a library left open must not keep the process (and a
            // deploy waiting for it) alive. Unreferenced, so a process with nothing left exits at once anyway.
            setTimeout(() => process.exit(0), 2_000).unref();
          },
          (error: unknown) => {
            logger.error({ err: error }, 'error while stopping');
            process.exitCode = 1;
          },
        );
      });
    }
  } catch (error) {
    logger.fatal({ err: error }, 'failed to start');
    destination.flushSync();
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
