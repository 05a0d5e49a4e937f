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
 * npm run bench: the two hot paths of the real server (Postgres, API key,
 * validation, logging), each beside baselines in the same run:
 *
 * - POST /api/v1/leads against a bare Koa + pg insert of the same row (base)
 *   and the same plus one key look-up (b+lk);
 * - RFC 7662 introspection of an API key against stock oidc-provider's own
 *   introspection on Postgres (a plain pg adapter, one minted opaque token,
 *   no logging) and a bare Koa + pg select of the same row (the floor).
 *
 * Each cell is the median of ROUNDS runs, the servers' order rotated each
 * round. Prints requests/s, p50/p99, non-2xx answers, each server process's
 * CPU per request, peak RSS, and the ratios with their targets. Not part of
 * the tests. Then an honest sign-in's latency, alone and under a flood of
 * wrong passwords. BENCH_TABLES=leads, introspection or signin runs one part.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '10,50,100').split(',').map(Number);
// Single runs on a shared 2-core machine swing by ±15%: each figure is the
// median of ROUNDS runs, with the servers' order rotated every round.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TABLES = (process.env.BENCH_TABLES ?? 'leads,introspection,signin').split(',');
const IDEMPOTENCY = process.env.BENCH_IDEMPOTENCY === '1';
/** The Leads API against base at 50 connections; our introspection against stock oidc-provider's. */
const TARGETS = { leads: 0.8, introspection: 1.5 };

async function startProcess(script: string, env: Record<string, string>, port: number, onLine?: (line: string) => void): Promise<ChildProcess> {
  // BENCH_SERVER_CPUS pins the servers (e.g. "1") away from the load generator.
  const pin = process.env.BENCH_SERVER_CPUS;
  const child = spawn(pin ? 'taskset' : process.execPath, pin ? ['-c', pin, process.execPath, script] : [script], {
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

/** One server under load and the request it is sent. */
interface Target {
  label: string;
  url: string;
  pid: number;
  path: string;
  headers: Record<string, string>;
  /** A body per request (leads need a fresh email each). */
  body(): { body: string; headers?: Record<string, string> };
}

async function drive(target: Target, connections: number, duration: number) {
  const cpuBefore = cpuMicros(target.pid);
  const result = await autocannon({
    url: `${target.url}${target.path}`,
    method: 'POST',
    connections,
    duration,
    headers: target.headers,
    requests: [
      {
        setupRequest(request) {
          const { body, headers } = target.body();
          return { ...request, body, ...(headers ? { headers: { ...request.headers, ...headers } } : {}) };
        },
      },
    ],
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  const cpuPerRequest = result.requests.total ? (cpuMicros(target.pid) - cpuBefore) / result.requests.total : 0;
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

/**
 * Drives every target at each concurrency and prints one table: each
 * target's figures, then the ratio of the first target to each other one.
 * Returns, per concurrency, the first target's and the last one's ratio to
 * the second (the baseline).
 */
async function compare(title: string, legend: string, targets: Target[]): Promise<{ first: Map<number, number>; last: Map<number, number> }> {
  for (const target of targets) await drive(target, 10, 2); // warm up: JIT, pools
  const ratios = { first: new Map<number, number>(), last: new Map<number, number>() };
  const rows: string[] = [];
  const cpuRows: string[] = [];
  const [first, ...others] = targets;
  for (const connections of CONCURRENCIES) {
    const runs: Run[][] = targets.map(() => []);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let turn = 0; turn < targets.length; turn += 1) {
        const index = (turn + round) % targets.length;
        runs[index]!.push(await drive(targets[index]!, connections, DURATION));
      }
    }
    const medians = runs.map(medianRun);
    ratios.first.set(connections, medians[0]!.rps / medians[1]!.rps);
    ratios.last.set(connections, medians[medians.length - 1]!.rps / medians[1]!.rps);
    const cells = (run: Run) => [run.rps.toFixed(0).padStart(9), `${run.p50}/${run.p99}`.padStart(10), String(run.non2xx).padStart(6)];
    rows.push(
      [String(connections).padStart(11), ...medians.flatMap(cells), ...medians.slice(1).map((run) => (medians[0]!.rps / run.rps).toFixed(2).padStart(8))].join(' |'),
    );
    cpuRows.push(`${connections} connections: ${targets.map((target, index) => `${target.label} ${medians[index]!.cpuPerRequest.toFixed(0)}`).join(', ')}`);
  }
  const header = [
    'connections'.padStart(11),
    ...targets.flatMap((target) => [`${target.label} rps`.padStart(9), 'p50/p99ms'.padStart(10), 'non2xx'.padStart(6)]),
    ...others.map((other) => `${first!.label}/${other.label}`.padStart(8)),
  ];
  console.log(`\n${title}, median of ${ROUNDS} runs of ${DURATION}s per cell, Node ${process.version}, ${new Date().toISOString()}`);
  console.log(legend);
  console.log(header.join(' |'));
  for (const row of rows) console.log(row);
  console.log(`server process CPU per request (user + system, µs): ${cpuRows.join('; ')}`);
  console.log(`peak RSS: ${targets.map((target) => `${target.label} ${peakRssMiB(target.pid).toFixed(1)} MiB`).join(', ')}`);
  return ratios;
}

/** One sign-in through the login form, from an address: the status of the form's answer and how long the whole took (ms). */
async function signInOnce(publicUrl: string, email: string, password: string, ip: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const auth = new URL(`${publicUrl}/oauth/auth`);
  auth.search = new URLSearchParams({
    client_id: 'octiv-app',
    response_type: 'code',
    scope: 'openid profile admin',
    redirect_uri: `${publicUrl}/console/callback`,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const headers = { 'X-Forwarded-For': ip };
  const first = await fetch(auth, { redirect: 'manual', headers });
  await first.arrayBuffer();
  const cookies = first.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
  const page = new URL(first.headers.get('location') ?? '', publicUrl);
  const form = await fetch(`${page.href}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, Cookie: cookies, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email, password }).toString(),
  });
  await form.arrayBuffer();
  return { status: form.status, ms: performance.now() - started };
}

/**
 * An honest sign-in's latency, alone and under a flood of wrong passwords
 * from many addresses and for many emails (50 at a time): a figure, not a
 * test. The per-address and per-email limits cut a flood from one source;
 * this is the flood they cannot cut, which the cap on password work bounds.
 */
async function signInFlood(publicUrl: string, config: ReturnType<typeof loadConfig>): Promise<string> {
  void config;
  const honest = async (seconds: number) => {
    const times: number[] = [];
    const statuses = new Map<number, number>();
    const until = Date.now() + seconds * 1000;
    for (let index = 0; Date.now() < until; index += 1) {
      const { status, ms } = await signInOnce(publicUrl, 'owner@demo.test', 'demo-password', `192.0.2.${(index % 200) + 1}`);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 303) times.push(ms);
      await sleep(200);
    }
    times.sort((x, y) => x - y);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]?.toFixed(0) ?? '-';
    return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms over ${times.length} sign-ins (${[...statuses].map(([status, count]) => `${count}×${status}`).join(', ')})`;
  };
  const alone = await honest(DURATION);
  let flooding = true;
  const floodStatuses = new Map<number, number>();
  let sequence = 0;
  const flood = Array.from({ length: 50 }, async () => {
    while (flooding) {
      sequence += 1;
      const { status } = await signInOnce(publicUrl, `flood${sequence}@example.com`, 'wrong-password', `10.${(sequence >> 16) & 255}.${(sequence >> 8) & 255}.${sequence & 255}`).catch(() => ({ status: 0 }));
      floodStatuses.set(status, (floodStatuses.get(status) ?? 0) + 1);
    }
  });
  await sleep(1000);
  const flooded = await honest(DURATION);
  flooding = false;
  await Promise.all(flood);
  const line = `sign-in: an honest sign-in alone ${alone}; under a flood of 50 concurrent wrong passwords from as many addresses: ${flooded}; the flood got ${[...floodStatuses].map(([status, count]) => `${count}×${status}`).join(', ')}`;
  console.log(`\n${line}`);
  return line;
}

/** The ratio at 50 connections (the targets' reference), or the lowest measured when 50 was not run. */
const at50 = (ratios: Map<number, number>) => ratios.get(50) ?? Math.min(...ratios.values());

async function main(): Promise<void> {
  const admin = knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } });
  const name = `octiv_bench_${randomBytes(4).toString('hex')}`;
  await admin.raw(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const children: ChildProcess[] = [];
  const summary: string[] = [];
  try {
    const oursPort = await freePort();
    const publicUrl = `http://127.0.0.1:${oursPort}`;
    // Migrate and seed, as an operator would.
    const seed = spawn(process.execPath, ['dist/src/cli.js', 'seed'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl }, stdio: 'ignore' });
    await new Promise((resolve) => seed.once('exit', resolve));

    const keyCheck = process.env.BENCH_KEY_CHECK ?? 'in-write';
    const oursEnv = { DATABASE_URL: databaseUrl, PUBLIC_URL: publicUrl, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', NODE_ENV: 'development', LEADS_API_KEY_CHECK: keyCheck };
    // TRUST_PROXY: the sign-in flood comes from many addresses (X-Forwarded-For); nothing else sends the header.
    const ours = await startProcess('dist/src/main.js', { ...oursEnv, TRUST_PROXY: 'true' }, oursPort);
    children.push(ours);
    const config = loadConfig({ PUBLIC_URL: publicUrl, DATABASE_URL: databaseUrl });
    const staffToken = await signIn({ url: publicUrl, config } as TestServer, 'owner@demo.test');
    // The key's own limit is far above what this machine can send: the limit is checked on every request, never reached.
    const created = await api({ url: publicUrl } as TestServer, '/api/v1/api-keys', {
      token: staffToken,
      body: { name: 'Benchmark', scopes: ['leads:create'], rateLimit: { limit: 100_000, windowSeconds: 1 } },
    });
    const key = created.body.key as string;
    const auth = { authorization: `Bearer ${key}` };

    const baseEnv = { DATABASE_URL: databaseUrl, FACILITY_ID: DEMO.demoFitness.id, KEY_ID: created.body.id as string };
    const basePort = await freePort();
    const baseline = await startProcess('dist/bench/baseline.js', baseEnv, basePort);
    children.push(baseline);

    if (TABLES.includes('leads')) {
      const floorPort = await freePort();
      const lookup = await startProcess('dist/bench/baseline.js', { ...baseEnv, LOOKUP_KEY: '1' }, floorPort);
      children.push(lookup);
      // The same server with RATE_LIMITS=off, to show what the limits cost.
      const unlimitedPort = await freePort();
      const unlimited = await startProcess('dist/src/main.js', { ...oursEnv, PUBLIC_URL: publicUrl, RATE_LIMITS: 'off' }, unlimitedPort);
      children.push(unlimited);
      let counter = 0;
      const lead = () => {
        counter += 1;
        const body = JSON.stringify({ firstName: 'Bench', lastName: 'Mark', email: `bench.${process.pid}.${counter}@example.com`, source: 'bench' });
        // BENCH_IDEMPOTENCY=1: every request carries its own Idempotency-Key, as a careful CRM's would.
        return IDEMPOTENCY ? { body, headers: { 'idempotency-key': `bench-${process.pid}-${counter}` } } : { body };
      };
      const json = { 'content-type': 'application/json' };
      const ratios = await compare(
        'POST /api/v1/leads',
        `ours = this server (key check: ${keyCheck}${IDEMPOTENCY ? '; an Idempotency-Key on every request' : ''}; rate limits on, usage tracking on); base = bare Koa + pg insert of the same row; b+lk = base plus one key lookup query; nolim = ours with RATE_LIMITS=off`,
        [
          { label: 'ours', url: publicUrl, pid: ours.pid!, path: '/api/v1/leads', headers: { ...json, ...auth }, body: lead },
          { label: 'base', url: `http://127.0.0.1:${basePort}`, pid: baseline.pid!, path: '/api/v1/leads', headers: json, body: lead },
          { label: 'b+lk', url: `http://127.0.0.1:${floorPort}`, pid: lookup.pid!, path: '/api/v1/leads', headers: { ...json, ...auth }, body: lead },
          { label: 'nolim', url: `http://127.0.0.1:${unlimitedPort}`, pid: unlimited.pid!, path: '/api/v1/leads', headers: { ...json, ...auth }, body: lead },
        ],
      );
      const ratio = at50(ratios.first);
      const unlimitedRatio = at50(ratios.last);
      summary.push(`leads: ours/base at 50 connections ${ratio.toFixed(2)} with limits on (target >= ${TARGETS.leads}): ${ratio >= TARGETS.leads ? 'met' : 'NOT met'}; limits off: nolim/base ${unlimitedRatio.toFixed(2)}`);
    }

    if (TABLES.includes('introspection')) {
      const stockPort = await freePort();
      let stockToken = '';
      const stock = await startProcess('dist/bench/stock-provider.js', { DATABASE_URL: databaseUrl }, stockPort, (line) => {
        if (line.startsWith('token ')) stockToken = line.slice(6);
      });
      children.push(stock);
      while (!stockToken) await sleep(50);
      const basic = (id: string, secret: string) => ({
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      });
      const form = (token: string) => {
        const body = new URLSearchParams({ token }).toString();
        return () => ({ body });
      };
      const path = '/oauth/token/introspection';
      const ratios = await compare(
        'POST /oauth/token/introspection (RFC 7662) of an API key',
        'ours = this server (its introspection of a key); stock = oidc-provider 9 alone on a plain pg adapter, one opaque token; floor = bare Koa + pg select of the same row',
        [
          { label: 'ours', url: publicUrl, pid: ours.pid!, path, headers: basic(config.leadsApiClient.id, config.leadsApiClient.secret), body: form(key) },
          { label: 'stock', url: `http://127.0.0.1:${stockPort}`, pid: stock.pid!, path: '/token/introspection', headers: basic('resource-server', 'stock-provider-bench-secret-0123456789'), body: form(stockToken) },
          { label: 'floor', url: `http://127.0.0.1:${basePort}`, pid: baseline.pid!, path, headers: basic('x', 'y'), body: form(key) },
        ],
      );
      const ratio = at50(ratios.first);
      summary.push(`introspection: ours/stock at 50 connections ${ratio.toFixed(2)} (target >= ${TARGETS.introspection}): ${ratio >= TARGETS.introspection ? 'met' : 'NOT met'}`);
    }
    if (TABLES.includes('signin')) summary.push(await signInFlood(publicUrl, config));
    console.log(`\n${summary.join('\n')}`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await sleep(500);
    await admin.raw(`drop database if exists ${name} with (force)`);
    await admin.destroy();
  }
}

await main();
