import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import autocannon from 'autocannon';
import knexFactory from 'knex';

import { DEMO } from '../seeds/demo.js';
import { loadConfig } from '../src/config.js';
import { freePort } from '../test/helpers/process.js';
import { api, signIn } from '../test/helpers/oauth.js';
import type { TestServer } from '../test/helpers/server.js';

/**
 * npm run bench: POST /api/v1/leads on the real server (Postgres, API key,
 * validation, logging) against a bare Koa + pg baseline inserting the same
 * row, at a few concurrencies, in one run. Prints requests/s, p50, p99, peak
 * RSS of both and their ratio. Not part of the tests.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '10,50,100').split(',').map(Number);
// Single runs on a shared 2-core machine swing by ±15%: each figure is the
// median of ROUNDS runs, with the three servers' order rotated every round.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET_RATIO = 0.7;
const IDEMPOTENCY = process.env.BENCH_IDEMPOTENCY === '1';

async function startProcess(script: string, env: Record<string, string>, port: number): Promise<ChildProcess> {
  const devNull = openSync('/dev/null', 'w');
  // BENCH_SERVER_CPUS pins the servers (e.g. "1") away from the load generator.
  const pin = process.env.BENCH_SERVER_CPUS;
  const child = spawn(pin ? 'taskset' : process.execPath, pin ? ['-c', pin, process.execPath, script] : [script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', devNull, 'inherit'],
  });
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.status === 200 || response.status === 404) return child;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${script} did not start`);
}

/** Peak resident set size of a process so far (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmHWM:'));
  return Number(line?.match(/(\d+)/)?.[1] ?? 0) / 1024;
}

/** CPU time (user + system) a process has used so far, in microseconds. */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ", utime and stime are the 12th and 13th fields.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

let counter = 0;
async function drive(url: string, headers: Record<string, string>, connections: number, duration: number, pid?: number) {
  const cpuBefore = pid ? cpuMicros(pid) : 0;
  const result = await autocannon({
    url: `${url}/api/v1/leads`,
    method: 'POST',
    connections,
    duration,
    headers: { 'content-type': 'application/json', ...headers },
    requests: [
      {
        setupRequest(request) {
          counter += 1;
          const body = JSON.stringify({ firstName: 'Bench', lastName: 'Mark', email: `bench.${process.pid}.${counter}@example.com`, source: 'bench' });
          // BENCH_IDEMPOTENCY=1: every request carries its own Idempotency-Key, as a careful CRM's would.
          if (!IDEMPOTENCY) return { ...request, body };
          return { ...request, body, headers: { ...request.headers, 'idempotency-key': `bench-${process.pid}-${counter}` } };
        },
      },
    ],
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  const cpuPerRequest = pid && result.requests.total ? (cpuMicros(pid) - cpuBefore) / result.requests.total : 0;
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx, total: result.requests.total, cpuPerRequest };
}

type Run = Awaited<ReturnType<typeof drive>>;

/** The median of each figure over a server's runs (non-2xx answers are summed). */
function medianRun(runs: Run[]): Run {
  const median = (pick: (run: Run) => number) => {
    const sorted = runs.map(pick).sort((x, y) => x - y);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  return {
    rps: median((run) => run.rps),
    p50: median((run) => run.p50),
    p99: median((run) => run.p99),
    cpuPerRequest: median((run) => run.cpuPerRequest),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    total: runs.reduce((sum, run) => sum + run.total, 0),
  };
}

async function main(): Promise<void> {
  const admin = knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } });
  const name = `octiv_bench_${randomBytes(4).toString('hex')}`;
  await admin.raw(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const children: ChildProcess[] = [];
  try {
    const oursPort = await freePort();
    const publicUrl = `http://127.0.0.1:${oursPort}`;
    // Migrate and seed, as an operator would.
    const seed = spawn(process.execPath, ['dist/src/cli.js', 'seed'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl }, stdio: 'ignore' });
    await new Promise((resolve) => seed.once('exit', resolve));

    const ours = await startProcess(
      'dist/src/main.js',
      {
        DATABASE_URL: databaseUrl,
        PUBLIC_URL: publicUrl,
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
        NODE_ENV: 'development',
        // in-write (the default) or introspection: how the Leads API checks the key.
        LEADS_API_KEY_CHECK: process.env.BENCH_KEY_CHECK ?? 'in-write',
      },
      oursPort,
    );
    children.push(ours);
    const config = loadConfig({ PUBLIC_URL: publicUrl, DATABASE_URL: databaseUrl });
    const staffToken = await signIn({ url: publicUrl, config } as TestServer, 'owner@demo.test');
    const created = await api({ url: publicUrl } as TestServer, '/api/v1/api-keys', { token: staffToken, body: { name: 'Benchmark', scopes: ['leads:create'] } });
    const auth = { authorization: `Bearer ${created.body.key as string}` };

    const baseEnv = { DATABASE_URL: databaseUrl, FACILITY_ID: DEMO.demoFitness.id, KEY_ID: created.body.id as string };
    const basePort = await freePort();
    const baseline = await startProcess('dist/bench/baseline.js', baseEnv, basePort);
    children.push(baseline);
    const floorPort = await freePort();
    const floor = await startProcess('dist/bench/baseline.js', { ...baseEnv, LOOKUP_KEY: '1' }, floorPort);
    children.push(floor);

    // Warm all three up (JIT, pools).
    await drive(publicUrl, auth, 10, 2);
    await drive(`http://127.0.0.1:${basePort}`, {}, 10, 2);
    await drive(`http://127.0.0.1:${floorPort}`, auth, 10, 2);

    const rows: string[] = [];
    const cpuRows: string[] = [];
    let worst = Infinity;
    const targets = [
      { url: publicUrl, headers: auth, pid: ours.pid },
      { url: `http://127.0.0.1:${basePort}`, headers: {}, pid: baseline.pid },
      { url: `http://127.0.0.1:${floorPort}`, headers: auth, pid: floor.pid },
    ];
    for (const connections of CONCURRENCIES) {
      const runs: Run[][] = targets.map(() => []);
      for (let round = 0; round < ROUNDS; round += 1) {
        for (let turn = 0; turn < targets.length; turn += 1) {
          const index = (turn + round) % targets.length;
          const target = targets[index]!;
          runs[index]!.push(await drive(target.url, target.headers, connections, DURATION, target.pid));
        }
      }
      const [a, b, c] = runs.map(medianRun) as [Run, Run, Run];
      const ratio = a.rps / b.rps;
      worst = Math.min(worst, ratio);
      const cells = (run: typeof a) => [run.rps.toFixed(0).padStart(9), `${run.p50}/${run.p99}`.padStart(10), String(run.non2xx).padStart(6)];
      rows.push(
        [String(connections).padStart(11), ...cells(a), ...cells(b), ...cells(c), ratio.toFixed(2).padStart(6), (c.rps / b.rps).toFixed(2).padStart(6)].join(' |'),
      );
      cpuRows.push(`${connections} connections: ours ${a.cpuPerRequest.toFixed(0)}, base ${b.cpuPerRequest.toFixed(0)}, b+lk ${c.cpuPerRequest.toFixed(0)}`);
    }
    const header = ['connections', 'ours rps', 'p50/p99ms', 'non2xx', 'base rps', 'p50/p99ms', 'non2xx', 'b+lk rps', 'p50/p99ms', 'non2xx', 'ours/b', 'b+lk/b'];
    const widths = [11, 9, 10, 6, 9, 10, 6, 9, 10, 6, 6, 6];
    console.log(`\nPOST /api/v1/leads, median of ${ROUNDS} runs of ${DURATION}s per cell, Node ${process.version}, ${new Date().toISOString()}`);
    console.log(`ours = this server (key check: ${process.env.BENCH_KEY_CHECK ?? 'in-write'}${IDEMPOTENCY ? '; an Idempotency-Key on every request' : ''}); base = bare Koa + pg insert of the same row; b+lk = base plus one key lookup query`);
    console.log(header.map((cell, index) => cell.padStart(widths[index]!)).join(' |'));
    for (const row of rows) console.log(row);
    console.log(`server process CPU per request (user + system, µs): ${cpuRows.join('; ')}`);
    console.log(
      `peak RSS: ours ${peakRssMiB(ours.pid!).toFixed(1)} MiB, baseline ${peakRssMiB(baseline.pid!).toFixed(1)} MiB, baseline+lookup ${peakRssMiB(floor.pid!).toFixed(1)} MiB`,
    );
    console.log(`lowest ours/baseline throughput ratio ${worst.toFixed(2)} (target >= ${TARGET_RATIO}): ${worst >= TARGET_RATIO ? 'met' : 'NOT met'}`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await sleep(500);
    await admin.raw(`drop database if exists ${name} with (force)`);
    await admin.destroy();
  }
}

await main();
