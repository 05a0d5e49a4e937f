import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { loadConfig } from '../src/config.js';
import { SERVER_NODE_ARGS } from '../test/helpers/process.js';
import { api, signIn } from '../test/helpers/oauth.js';
import type { TestServer } from '../test/helpers/server.js';

/**
 * What the bench and the failover drill share: starting a built script as
 * its own process (our server as `npm start` runs it), seeding a database as
 * an operator would, and a key made the way a facility's Owner makes one.
 */

/** The repository (the scripts run from dist/bench/). */
export const ROOT = path.resolve(import.meta.dirname, '../..');

// BENCH_NODE_ARGS: node options for the servers (e.g. "--max-semi-space-size=8"), to try a runtime setting.
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

/**
 * Starts `script` (a path under dist/) on `port` and resolves once its
 * /healthz answers. `onLine` gets each line of its standard output (else it
 * is dropped); its standard error is ours.
 */
export async function startProcess(script: string, env: Record<string, string>, port: number, onLine?: (line: string) => void): Promise<ChildProcess> {
  // BENCH_SERVER_CPUS pins the servers (e.g. "1") away from the load generator.
  const pin = process.env.BENCH_SERVER_CPUS;
  // Our server runs as `npm start` runs it; the baselines with node's defaults.
  const args = [...(script === 'dist/src/main.js' ? SERVER_NODE_ARGS : []), ...NODE_ARGS, script];
  const child = spawn(pin ? 'taskset' : process.execPath, pin ? ['-c', pin, process.execPath, ...args] : args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', onLine ? 'pipe' : openSync('/dev/null', 'w'), 'inherit'],
  });
  if (onLine) child.stdout!.on('data', (chunk: Buffer) => chunk.toString('utf8').split('\n').filter(Boolean).forEach(onLine));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      await response.arrayBuffer();
      return child;
    } catch {
      await sleep(100);
    }
  }
  child.kill('SIGKILL');
  throw new Error(`${script} did not start`);
}

/** Stops a process with SIGTERM (a drain, for our server) and waits for it to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Migrates the database at `databaseUrl` and loads the demo data (`npm run seed`). */
export async function seedDatabase(databaseUrl: string): Promise<void> {
  const seed = spawn(process.execPath, ['dist/src/cli.js', 'seed'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl }, stdio: 'ignore' });
  const code = await new Promise((resolve) => seed.once('exit', resolve));
  if (code !== 0) throw new Error(`npm run seed on ${new URL(databaseUrl).pathname} exited ${String(code)}`);
}

/** The demo Owner's admin API token, through the real login form. */
export function signInAsOwner(publicUrl: string, config: ReturnType<typeof loadConfig>): Promise<string> {
  return signIn({ url: publicUrl, config } as TestServer, 'owner@demo.test');
}

/** Creates a key as the demo Owner (signing in unless given the Owner's token), named after its scopes unless named. */
export async function createBenchKey(
  publicUrl: string,
  config: ReturnType<typeof loadConfig>,
  options: { scopes?: string[]; name?: string; staffToken?: string } = {},
): Promise<{ key: string; keyId: string }> {
  const scopes = options.scopes ?? ['leads:create'];
  const token = options.staffToken ?? (await signInAsOwner(publicUrl, config));
  // The key's own limit is far above what this machine can send: the limit is checked on every request, never reached.
  const created = await api({ url: publicUrl } as TestServer, '/api/v1/api-keys', {
    token,
    body: { name: options.name ?? `Benchmark ${scopes.join(' ')}`, scopes, rateLimit: { limit: 100_000, windowSeconds: 1 } },
  });
  if (created.status !== 201) throw new Error(`creating a key answered ${created.status}: ${JSON.stringify(created.body)}`);
  return { key: created.body.key as string, keyId: created.body.id as string };
}
