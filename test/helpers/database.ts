import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { ExecutionContext } from 'ava';
import knexFactory, { type Knex } from 'knex';

import type { Config } from '../../src/config.js';
import { createDatabase, type Database } from '../../src/db/database.js';
import { prepareDatabase } from '../../src/db/migrate.js';
import type { Logger } from '../../src/logger.js';

export type TestDatabaseKind = 'postgres' | 'embedded';

/** Which database the suite runs on: TEST_DATABASE=embedded, else Postgres. */
export const TEST_DATABASE_KIND: TestDatabaseKind = process.env.TEST_DATABASE === 'embedded' ? 'embedded' : 'postgres';

/** An ava test function (`test`, `test.serial`), as far as `heldTransactionTests` uses it. */
interface TestRunner {
  (title: string, fn: (t: ExecutionContext) => Promise<void>): void;
  skip(title: string, fn: (t: ExecutionContext) => Promise<void>): void;
}

/**
 * Tests that hold a transaction open while the server works: on Postgres
 * they run (with `run`: `test` or `test.serial`); on the embedded database,
 * whose one connection the held transaction would take, they are skipped,
 * saying why.
 */
export function heldTransactionTests(run: TestRunner) {
  return (title: string, fn: (t: ExecutionContext) => Promise<void>): void =>
    TEST_DATABASE_KIND === 'postgres' ? run(title, fn) : run.skip(`${title} [Postgres only: the embedded database runs one transaction at a time]`, fn);
}

/** The server that test databases are created on (trust auth on this machine). */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A pooler in front of that server (TEST_POSTGRES_POOLER_URL, for example a
 * PgBouncer in transaction mode): databases are still created on the server
 * itself, and the code under test reaches them through the pooler, with
 * unnamed statements (DATABASE_PREPARED_STATEMENTS=off), as the README's
 * recipe says.
 */
export const POSTGRES_POOLER_URL = process.env.TEST_POSTGRES_POOLER_URL;

/** The URL of database `name`: through the pooler when there is one, else on the server. */
export function databaseUrl(name: string): string {
  const url = new URL(POSTGRES_POOLER_URL ?? POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** `url` on the Postgres server itself, bypassing any pooler: for a session that must keep its own backend (a lock held across statements). */
export function directUrl(url: string): string {
  const direct = new URL(url);
  direct.host = new URL(POSTGRES_ADMIN_URL).host;
  return direct.toString();
}

/** What a test database's config and env carry beside its URL, through a pooler. */
const poolerSettings: { config: { preparedStatements?: boolean }; env: Record<string, string> } = POSTGRES_POOLER_URL
  ? { config: { preparedStatements: false }, env: { DATABASE_PREPARED_STATEMENTS: 'off' } }
  : { config: {}, env: {} };

export interface TestDatabase {
  kind: TestDatabaseKind;
  /** What to put into Config['database'] (and the env) to reach this database. */
  config: Config['database'];
  env: Record<string, string>;
  drop(): Promise<void>;
}

async function adminConnection(): Promise<Knex> {
  const admin = knexFactory({ client: 'pg', connection: POSTGRES_ADMIN_URL, pool: { min: 0, max: 1 } });
  try {
    await admin.raw('select 1');
  } catch (error) {
    await admin.destroy();
    throw new Error(
      `These tests need Postgres at ${POSTGRES_ADMIN_URL} (set TEST_POSTGRES_URL, or TEST_DATABASE=embedded): ${(error as Error).message}`,
    );
  }
  return admin;
}

/**
 * A fresh, empty database of the suite's kind, for one test file: a new
 * Postgres database on the local server, or an embedded one in a temp folder.
 */
export async function createTestDatabase(kind: TestDatabaseKind = TEST_DATABASE_KIND): Promise<TestDatabase> {
  if (kind === 'embedded') {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'octiv-test-'));
    return {
      kind,
      config: { kind: 'embedded', dataDir },
      env: { DATA_DIR: dataDir },
      drop: () => rm(dataDir, { recursive: true, force: true }),
    };
  }
  const admin = await adminConnection();
  const name = `octiv_test_${randomBytes(6).toString('hex')}`;
  await admin.raw(`create database ${name}`);
  await admin.destroy();
  const url = databaseUrl(name);
  return {
    kind,
    config: { kind: 'postgres', url, poolMax: 10, ...poolerSettings.config },
    env: { DATABASE_URL: url, ...poolerSettings.env },
    async drop() {
      const cleanup = await adminConnection();
      try {
        await cleanup.raw(`drop database if exists ${name} with (force)`);
      } finally {
        await cleanup.destroy();
      }
    },
  };
}

/** Opens a test database and migrates it (as its migration role, when it has one: see prepareDatabase). */
export async function openMigrated(database: TestDatabase, logger?: Logger): Promise<Database> {
  const opened = await createDatabase(database.config, { logger });
  await prepareDatabase(database.config, opened, logger);
  return opened;
}
