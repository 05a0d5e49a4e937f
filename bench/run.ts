import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import autocannon from 'autocannon';
import knexFactory from 'knex';

import { DEMO } from '../seeds/demo.js';
import { hashToken } from '../src/shared/token-hash.js';
import { loadConfig } from '../src/config.js';
import { openEmbedded } from '../src/db/embedded.js';
import { DEVICE_COOKIE } from '../src/staff/trusted-device.js';
import { freePort, SERVER_NODE_ARGS } from '../test/helpers/process.js';
import { api, signIn } from '../test/helpers/oauth.js';
import type { TestServer } from '../test/helpers/server.js';
import { createBenchKey, ROOT, seedDatabase, startProcess, stopProcess } from './our-server.js';
import { explainHotStatements, fillDatabase, tableSizes, type ScaleSize } from './scale.js';

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
 * round; idem/ours is measured again from PAIRS pairs of adjacent cells
 * (see `pairedRatios`). Prints requests/s, p50/p99, non-2xx answers, each server process's
 * CPU per request, peak RSS, and the ratios with their targets. Not part of
 * the tests. Then an honest sign-in's latency, alone and under a flood of
 * wrong passwords. Then the embedded database: its start-up time on a new and
 * on a filled data folder, its memory, and the hot paths beside Postgres.
 * BENCH_TABLES=leads, introspection, signin or embedded runs one part.
 *
 * With `--keys N --leads M` it is the scale run instead: the hot paths on a
 * database of 1,000 keys and on one of N keys and M leads, side by side,
 * with the large one's query plans and table sizes (see `scale`).
 */
const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '10,50,100').split(',').map(Number);
// Single runs on a shared 2-core machine swing by ±15%: each figure is the
// median of ROUNDS runs, with the servers' order rotated every round.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TABLES = (process.env.BENCH_TABLES ?? 'leads,introspection,reads,webhooks,signin,embedded').split(',');
const IDEMPOTENCY = process.env.BENCH_IDEMPOTENCY === '1';
/** The Leads API against base at 50 connections; our introspection against stock oidc-provider's. */
const TARGETS = { leads: 1.2, idempotency: 0.9, introspection: 2, introspectionFloor: 0.8, reads: 0.5 };
// Pairs of adjacent cells for idem/ours (see pairedRatios).
const PAIRS = Number(process.env.BENCH_PAIRS ?? 6);

/** VmRSS (resident now) or VmHWM (peak so far) of a process, in MiB. */
function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith(`${field}:`));
  return Number(line?.match(/(\d+)/)?.[1] ?? 0) / 1024;
}

/** CPU time (user + system) a process has used so far, in microseconds. */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ", utime and stime are the 12th and 13th fields.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/**
 * CPU time the whole machine has used so far (every process: the servers,
 * Postgres, the load generator), in microseconds, from /proc/stat. Beside a
 * server's own, it shows what a design costs the rest (chiefly the database).
 */
function machineCpuMicros(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user, nice, system, (idle, iowait skipped), irq, softirq.
  const busy = fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]!;
  return (busy * 1e6) / CLOCK_TICKS;
}

/** One server under load and the request it is sent. */
interface Target {
  label: string;
  url: string;
  pid: number;
  path: string;
  /** POST unless said (the leads read is a GET). */
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  /** A body per request (leads need a fresh email each). */
  body(): { body: string; headers?: Record<string, string> };
  /** What every answer must say (checked on a burst before the runs): a figure for a wrong answer is no figure. */
  expect?: (answer: unknown) => boolean;
}

/**
 * Sends a burst of requests at once (so that a server that gathers them
 * answers them together, as under load) and fails the bench when any answer
 * is not a 2xx that `expect` accepts.
 */
async function checkAnswers(target: Target, burst = 20): Promise<void> {
  const answers = await Promise.all(
    Array.from({ length: burst }, async () => {
      const { body, headers } = target.body();
      const method = target.method ?? 'POST';
      const response = await fetch(`${target.url}${target.path}`, { method, headers: { ...target.headers, ...headers }, ...(method === 'POST' ? { body } : {}) });
      const text = await response.text();
      let answer: unknown = text;
      try {
        answer = JSON.parse(text);
      } catch {
        // Not JSON: reported as its text.
      }
      return { status: response.status, answer };
    }),
  );
  const wrong = answers.find(({ status, answer }) => status >= 300 || (target.expect && !target.expect(answer)));
  if (wrong) throw new Error(`${target.label} answered ${wrong.status} ${JSON.stringify(wrong.answer).slice(0, 200)}: not what this table measures`);
}

/** Resets a process's peak RSS (VmHWM) to what it holds now, so the next reading is this round's peak. */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not allowed here: the peak then runs over all rounds so far.
  }
}

async function drive(target: Target, connections: number, duration: number) {
  resetPeak(target.pid);
  const cpuBefore = cpuMicros(target.pid);
  const machineBefore = machineCpuMicros();
  const method = target.method ?? 'POST';
  const result = await autocannon({
    url: `${target.url}${target.path}`,
    method,
    connections,
    duration,
    headers: target.headers,
    requests: [
      {
        setupRequest(request) {
          if (method === 'GET') return request;
          const { body, headers } = target.body();
          return { ...request, body, ...(headers ? { headers: { ...request.headers, ...headers } } : {}) };
        },
      },
    ],
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  const perRequest = (micros: number) => (result.requests.total ? micros / result.requests.total : 0);
  const cpuPerRequest = perRequest(cpuMicros(target.pid) - cpuBefore);
  const machineCpuPerRequest = perRequest(machineCpuMicros() - machineBefore);
  const peakRss = rssMiB(target.pid, 'VmHWM');
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx, total: result.requests.total, cpuPerRequest, machineCpuPerRequest, peakRss };
}

type Run = Awaited<ReturnType<typeof drive>>;

/**
 * b's requests/s over a's from adjacent cells, `pairs` times, the order
 * alternating (a then b, b then a): what slows the machine for a while
 * hits the two cells of a pair more alike than cells up to four apart, as
 * the table's medians are. Returns each pair's ratio.
 */
async function pairedRatios(a: Target, b: Target, connections: number, pairs: number, duration: number): Promise<number[]> {
  const ratios: number[] = [];
  for (let pair = 0; pair < pairs; pair += 1) {
    const [first, second] = pair % 2 === 0 ? [a, b] : [b, a];
    const one = await drive(first, connections, duration);
    const other = await drive(second, connections, duration);
    ratios.push(pair % 2 === 0 ? other.rps / one.rps : one.rps / other.rps);
  }
  return ratios;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** The median of each figure over a server's runs (non-2xx answers are summed). */
function medianRun(runs: Run[]): Run {
  const of = (pick: (run: Run) => number) => median(runs.map(pick));
  return {
    rps: of((run) => run.rps),
    p50: of((run) => run.p50),
    p99: of((run) => run.p99),
    cpuPerRequest: of((run) => run.cpuPerRequest),
    machineCpuPerRequest: of((run) => run.machineCpuPerRequest),
    peakRss: Math.max(...runs.map((run) => run.peakRss)),
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
async function compare(title: string, legend: string, targets: Target[]): Promise<{ first: Map<number, number>; last: Map<number, number>; medians: Map<number, Map<string, Run>> }> {
  for (const target of targets) await checkAnswers(target);
  for (const target of targets) await drive(target, 10, 2); // warm up: JIT, pools
  const ratios = { first: new Map<number, number>(), last: new Map<number, number>(), medians: new Map<number, Map<string, Run>>() };
  const rows: string[] = [];
  const cpuRows: string[] = [];
  const peakRows: string[] = [];
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
    ratios.medians.set(connections, new Map(targets.map((target, index) => [target.label, medians[index]!])));
    peakRows.push(`${connections} connections: ${targets.map((target, index) => `${target.label} ${runs[index]!.map((run) => run.peakRss.toFixed(0)).join('/')}`).join(', ')}`);
    ratios.first.set(connections, medians[0]!.rps / medians[1]!.rps);
    ratios.last.set(connections, medians[medians.length - 1]!.rps / medians[1]!.rps);
    const cells = (run: Run) => [run.rps.toFixed(0).padStart(9), `${run.p50}/${run.p99}`.padStart(10), String(run.non2xx).padStart(6)];
    rows.push(
      [String(connections).padStart(11), ...medians.flatMap(cells), ...medians.slice(1).map((run) => (medians[0]!.rps / run.rps).toFixed(2).padStart(8))].join(' |'),
    );
    cpuRows.push(
      `${connections} connections: ${targets.map((target, index) => `${target.label} ${medians[index]!.cpuPerRequest.toFixed(0)}/${medians[index]!.machineCpuPerRequest.toFixed(0)}`).join(', ')}`,
    );
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
  console.log(`CPU per request (user + system, µs), server process / whole machine: ${cpuRows.join('; ')}`);
  console.log(`peak RSS per round (MiB): ${peakRows.join('; ')}`);
  return ratios;
}

/**
 * One sign-in through the login form, from an address, with a browser's
 * device cookie (`device`, as a Cookie header part) if it has one: the status
 * of the form's answer, how long the whole took (ms), and the device cookie
 * a successful sign-in set.
 */
async function signInOnce(publicUrl: string, email: string, password: string, ip: string, device = ''): Promise<{ status: number; ms: number; device: string }> {
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
    headers: { ...headers, Cookie: [cookies, device].filter(Boolean).join('; '), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email, password }).toString(),
  });
  await form.arrayBuffer();
  const deviceCookies = form.headers.getSetCookie().map((line) => line.split(';')[0]!).filter((pair) => pair.startsWith(DEVICE_COOKIE));
  return { status: form.status, ms: performance.now() - started, device: deviceCookies.join('; ') || device };
}

/**
 * An honest sign-in's latency, alone and under a flood of wrong passwords
 * from many addresses and for many emails (50 at a time): a figure, not a
 * test. The per-address and per-email limits cut a flood from one source;
 * this is the flood they cannot cut, which the cap on password work bounds.
 * Under the flood, from a browser that signed in to the account before (its
 * device cookie puts its password check ahead of the flood's) and from a new
 * browser.
 */
async function signInFlood(publicUrl: string): Promise<string> {
  const honest = async (seconds: number, options: { device?: string }) => {
    const times: number[] = [];
    const statuses = new Map<number, number>();
    const until = Date.now() + seconds * 1000;
    let device = options.device ?? '';
    for (let index = 0; Date.now() < until; index += 1) {
      const answer = await signInOnce(publicUrl, 'owner@demo.test', 'demo-password', `192.0.2.${(index % 200) + 1}`, device);
      if (options.device) device = answer.device;
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 303) times.push(answer.ms);
      await sleep(200);
    }
    times.sort((x, y) => x - y);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]?.toFixed(0) ?? '-';
    return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms over ${times.length} sign-ins (${[...statuses].map(([status, count]) => `${count}×${status}`).join(', ')})`;
  };
  const alone = await honest(DURATION, {});
  // A browser that signed in before the flood began: it holds the account's device cookie.
  const { device } = await signInOnce(publicUrl, 'owner@demo.test', 'demo-password', '192.0.2.250');
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
  const trusted = await honest(DURATION, { device });
  const firstTime = await honest(DURATION, {});
  flooding = false;
  await Promise.all(flood);
  const line = `sign-in: an honest sign-in alone ${alone}; under a flood of 50 concurrent wrong passwords from as many addresses, from a browser that signed in before: ${trusted}; from a new browser: ${firstTime}; the flood got ${[...floodStatuses].map(([status, count]) => `${count}×${status}`).join(', ')}`;
  console.log(`\n${line}`);
  return line;
}

/** The ratio at 50 connections (the targets' reference), or the lowest measured when 50 was not run. */
const at50 = (ratios: Map<number, number>) => ratios.get(50) ?? Math.min(...ratios.values());

/** A fresh database, migrated and seeded as an operator would, and our server on it with a key to send. */
interface Deployment {
  name: string;
  databaseUrl: string;
  publicUrl: string;
  server: ChildProcess;
  config: ReturnType<typeof loadConfig>;
  key: string;
  keyId: string;
}

async function deploy(admin: knexFactory.Knex, children: ChildProcess[], databases: string[], env: Record<string, string> = {}): Promise<Deployment> {
  const name = `octiv_bench_${randomBytes(4).toString('hex')}`;
  await admin.raw(`create database ${name}`);
  databases.push(name);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  await seedDatabase(databaseUrl);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  // TRUST_PROXY: the sign-in flood comes from many addresses (X-Forwarded-For); nothing else sends the header.
  const server = await startProcess('dist/src/main.js', { ...oursEnv(databaseUrl, publicUrl), TRUST_PROXY: 'true', ...env }, port);
  children.push(server);
  const config = loadConfig({ PUBLIC_URL: publicUrl, DATABASE_URL: databaseUrl });
  return { name, databaseUrl, publicUrl, server, config, ...(await createBenchKey(publicUrl, config)) };
}

const KEY_CHECK = process.env.BENCH_KEY_CHECK ?? 'in-write';
// BENCH_SERVER_ENV="NAME=value ...": settings for our servers, e.g. DATABASE_PREPARED_STATEMENTS=off to measure unnamed statements.
const SERVER_ENV = Object.fromEntries(
  (process.env.BENCH_SERVER_ENV ?? '')
    .split(' ')
    .filter(Boolean)
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const oursEnv = (databaseUrl: string, publicUrl: string) => ({
  DATABASE_URL: databaseUrl,
  PUBLIC_URL: publicUrl,
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  NODE_ENV: 'development',
  LEADS_API_KEY_CHECK: KEY_CHECK,
  ...SERVER_ENV,
});

let leadCounter = 0;
/** A lead body with a fresh email each time, with its own Idempotency-Key (as a careful CRM sends) or without. */
function leadBody(idempotent: boolean): { body: string; headers?: Record<string, string> } {
  leadCounter += 1;
  const body = JSON.stringify({ firstName: 'Bench', lastName: 'Mark', email: `bench.${process.pid}.${leadCounter}@example.com`, source: 'bench' });
  return idempotent ? { body, headers: { 'idempotency-key': `bench-${process.pid}-${leadCounter}` } } : { body };
}
// BENCH_IDEMPOTENCY=1: every request of every table carries an Idempotency-Key.
const nextLead = () => leadBody(IDEMPOTENCY);
const nextIdempotentLead = () => leadBody(true);

const JSON_TYPE = { 'content-type': 'application/json' };
const INTROSPECTION = '/oauth/token/introspection';
const bearer = (deployment: Deployment) => ({ authorization: `Bearer ${deployment.key}` });
const basic = (id: string, secret: string) => ({
  authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
  'content-type': 'application/x-www-form-urlencoded',
});
const form = (token: string) => {
  const body = new URLSearchParams({ token }).toString();
  return () => ({ body });
};
const leadsTarget = (label: string, deployment: Deployment): Target => ({
  label,
  url: deployment.publicUrl,
  pid: deployment.server.pid!,
  path: '/api/v1/leads',
  headers: { ...JSON_TYPE, ...bearer(deployment) },
  body: nextLead,
});
const isActive = (answer: unknown) => (answer as { active?: unknown }).active === true;
const introspectionTarget = (label: string, deployment: Deployment): Target => ({
  expect: isActive,
  label,
  url: deployment.publicUrl,
  pid: deployment.server.pid!,
  path: INTROSPECTION,
  headers: basic(deployment.config.leadsApiClient.id, deployment.config.leadsApiClient.secret),
  body: form(deployment.key),
});

/** The value of `--name N` on the command line (`npm run bench -- --keys 1000000 --leads 10000000`). */
function option(name: string): number | undefined {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return undefined;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, not ${process.argv[index + 1]}`);
  return value;
}

/** The usual run: our two hot paths beside their baselines, then the sign-in flood. */
async function standard(admin: knexFactory.Knex, children: ChildProcess[], databases: string[], summary: string[]): Promise<void> {
  const ours = await deploy(admin, children, databases);
  const baseEnv = { DATABASE_URL: ours.databaseUrl, FACILITY_ID: DEMO.demoFitness.id, KEY_ID: ours.keyId };
  const basePort = await freePort();
  const baseline = await startProcess('dist/bench/baseline.js', baseEnv, basePort);
  children.push(baseline);

  if (TABLES.includes('leads')) {
    const floorPort = await freePort();
    const lookup = await startProcess('dist/bench/baseline.js', { ...baseEnv, LOOKUP_KEY: '1' }, floorPort);
    children.push(lookup);
    // The same server with RATE_LIMITS=off, to show what the limits cost.
    const unlimitedPort = await freePort();
    const unlimited = await startProcess('dist/src/main.js', { ...oursEnv(ours.databaseUrl, ours.publicUrl), RATE_LIMITS: 'off' }, unlimitedPort);
    children.push(unlimited);
    const oursTarget = leadsTarget('ours', ours);
    const idemTarget = { ...leadsTarget('idem', ours), body: nextIdempotentLead };
    const ratios = await compare(
      'POST /api/v1/leads',
      `ours = this server (key check: ${KEY_CHECK}${IDEMPOTENCY ? '; an Idempotency-Key on every request' : ''}; rate limits on, usage tracking on); base = bare Koa + pg insert of the same row, one per request; idem = ours, every request with its own Idempotency-Key; b+lk = base plus one key lookup query; nolim = ours with RATE_LIMITS=off`,
      [
        oursTarget,
        { label: 'base', url: `http://127.0.0.1:${basePort}`, pid: baseline.pid!, path: '/api/v1/leads', headers: JSON_TYPE, body: nextLead },
        idemTarget,
        { label: 'b+lk', url: `http://127.0.0.1:${floorPort}`, pid: lookup.pid!, path: '/api/v1/leads', headers: { ...JSON_TYPE, ...bearer(ours) }, body: nextLead },
        { ...leadsTarget('nolim', ours), url: `http://127.0.0.1:${unlimitedPort}`, pid: unlimited.pid! },
      ],
    );
    const ratio = at50(ratios.first);
    const unlimitedRatio = at50(ratios.last);
    const at = ratios.medians.get(50) ?? [...ratios.medians.values()][0]!;
    const tableRatio = at.get('idem')!.rps / at.get('ours')!.rps;
    // idem/ours again from adjacent cells (see pairedRatios): the figure the target is judged on.
    const pairs = await pairedRatios(oursTarget, idemTarget, 50, PAIRS, DURATION);
    const idempotentRatio = median(pairs);
    console.log(`\nidem/ours at 50 connections, ${PAIRS} pairs of adjacent ${DURATION}s cells, the order alternating: ${pairs.map((pair) => pair.toFixed(2)).join(', ')}`);
    summary.push(
      `leads: ours/base at 50 connections ${ratio.toFixed(2)} with limits on (target >= ${TARGETS.leads}): ${ratio >= TARGETS.leads ? 'met' : 'NOT met'}; limits off: nolim/base ${unlimitedRatio.toFixed(2)}`,
      `leads with an Idempotency-Key: idem/ours at 50 connections, median of ${PAIRS} adjacent pairs ${idempotentRatio.toFixed(3)} (target >= ${TARGETS.idempotency.toFixed(2)}): ${idempotentRatio >= TARGETS.idempotency ? 'met' : 'NOT met'}; from the table's medians ${tableRatio.toFixed(2)}`,
    );
  }

  if (TABLES.includes('introspection')) {
    const stockPort = await freePort();
    let stockToken = '';
    const stock = await startProcess('dist/bench/stock-provider.js', { DATABASE_URL: ours.databaseUrl }, stockPort, (line) => {
      if (line.startsWith('token ')) stockToken = line.slice(6);
    });
    children.push(stock);
    while (!stockToken) await sleep(50);
    const ratios = await compare(
      'POST /oauth/token/introspection (RFC 7662) of an API key',
      'ours = this server (its introspection of a key); stock = oidc-provider 9 alone on a plain pg adapter, one opaque token; floor = bare Koa + pg select of the same row',
      [
        introspectionTarget('ours', ours),
        { label: 'stock', url: `http://127.0.0.1:${stockPort}`, pid: stock.pid!, path: '/token/introspection', headers: basic('resource-server', 'stock-provider-bench-secret-0123456789'), body: form(stockToken), expect: isActive },
        { label: 'floor', url: `http://127.0.0.1:${basePort}`, pid: baseline.pid!, path: INTROSPECTION, headers: basic('x', 'y'), body: form(ours.key), expect: isActive },
      ],
    );
    const ratio = at50(ratios.first);
    const floorRatio = at50(ratios.last);
    summary.push(
      `introspection: ours/stock at 50 connections ${ratio.toFixed(2)} (target >= ${TARGETS.introspection}): ${ratio >= TARGETS.introspection ? 'met' : 'NOT met'}; ours/floor ${floorRatio ? (ratio / floorRatio).toFixed(2) : '-'} (target >= ${TARGETS.introspectionFloor})`,
    );
  }
  if (TABLES.includes('reads')) summary.push(await reads(ours, baseEnv, children));
  if (TABLES.includes('webhooks')) summary.push(await webhooks(ours));
  if (TABLES.includes('signin')) summary.push(await signInFlood(ours.publicUrl));
  if (TABLES.includes('embedded')) await embedded(ours, children, summary);
}

/**
 * GET /api/v1/leads?limit=200 (a CRM's poll with the cursor) beside a bare
 * Koa + pg select of the same 200 rows: the database holds the leads the
 * leads table wrote (at least 10,000: topped up with generated ones).
 */
async function reads(ours: Deployment, baseEnv: Record<string, string>, children: ChildProcess[]): Promise<string> {
  const db = knexFactory({ client: 'pg', connection: ours.databaseUrl, pool: { min: 0, max: 1 } });
  try {
    const n = Number(((await db('members').count('* as n')) as { n: number }[])[0]?.n ?? 0);
    if (n < 10_000) {
      await db.raw(
        `insert into members (id, facility_id, first_name, last_name, email, source, status, created_by_key)
         select gen_random_uuid(), ?, 'Read', 'Lead ' || i, 'read.' || i || '.' || ? || '@example.com', 'bench', 'lead', ?
         from generate_series(1, ?::int) i`,
        [DEMO.demoFitness.id, process.pid, ours.keyId, 10_000 - n],
      );
    }
  } finally {
    await db.destroy();
  }
  const reader = await createBenchKey(ours.publicUrl, ours.config, { scopes: ['leads:read'] });
  const basePort = await freePort();
  const baseline = await startProcess('dist/bench/baseline.js', baseEnv, basePort);
  children.push(baseline);
  const path = '/api/v1/leads?limit=200';
  const ratios = await compare(
    'GET /api/v1/leads?limit=200 (the read cursor, from the first lead)',
    'ours = this server (leads:read key, the cursor\'s visibility rule and order); base = bare Koa + pg select of the facility\'s first 200 leads',
    [
      { label: 'ours', url: ours.publicUrl, pid: ours.server.pid!, path, method: 'GET', headers: { authorization: `Bearer ${reader.key}` }, body: () => ({ body: '' }) },
      { label: 'base', url: `http://127.0.0.1:${basePort}`, pid: baseline.pid!, path, method: 'GET', headers: {}, body: () => ({ body: '' }) },
    ],
  );
  const ratio = at50(ratios.first);
  const at = ratios.medians.get(50) ?? [...ratios.medians.values()][0]!;
  return `reads: GET /leads?limit=200 ours ${at.get('ours')!.rps.toFixed(0)} req/s (${(at.get('ours')!.rps * 200).toFixed(0)} leads/s), p99 ${at.get('ours')!.p99} ms; ours/base at 50 connections ${ratio.toFixed(2)} (target >= ${TARGETS.reads})`;
}

/**
 * Webhooks: leads sent at 50 connections to a server with an endpoint for
 * lead.created on a receiver in this process; how many events per second
 * go from the lead's creation to its delivery, and the lag (the receiver's
 * time less the lead's createdAt) at p50 and p99.
 */
async function webhooks(ours: Deployment): Promise<string> {
  const lags: number[] = [];
  let last = 0;
  const receiver = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const now = Date.now();
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; data: { createdAt?: string; source?: string } };
      if (event.type === 'lead.created' && event.data.source === 'webhook-bench' && event.data.createdAt) {
        lags.push(now - Date.parse(event.data.createdAt));
        last = now;
      }
      response.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const staffToken = await signIn({ url: ours.publicUrl, config: ours.config } as TestServer, 'owner@demo.test');
    const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
    const made = await api({ url: ours.publicUrl } as TestServer, '/api/v1/webhook-endpoints', { token: staffToken, body: { url, events: ['lead.created'] } });
    const total = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 5000);
    const started = Date.now();
    await autocannon({
      url: `${ours.publicUrl}/api/v1/leads`,
      method: 'POST',
      connections: 50,
      amount: total,
      headers: { ...JSON_TYPE, ...bearer(ours) },
      requests: [{ setupRequest: (request) => ({ ...request, body: JSON.stringify({ firstName: 'Hook', lastName: 'Bench', email: `hook.${process.pid}.${(leadCounter += 1)}@example.com`, source: 'webhook-bench' }) }) }],
    });
    const sent = Date.now();
    const deadline = Date.now() + 120_000;
    while (lags.length < total && Date.now() < deadline) await sleep(100);
    await api({ url: ours.publicUrl } as TestServer, `/api/v1/webhook-endpoints/${made.body.id}`, { token: staffToken, method: 'DELETE' });
    lags.sort((x, y) => x - y);
    const q = (fraction: number) => lags[Math.min(lags.length - 1, Math.floor(fraction * lags.length))] ?? NaN;
    const seconds = ((last || Date.now()) - started) / 1000;
    const line = `webhooks: ${lags.length} of ${total} lead.created events delivered in ${seconds.toFixed(1)} s (${(lags.length / seconds).toFixed(0)} events/s from lead to delivered; the leads themselves took ${((sent - started) / 1000).toFixed(1)} s), lag p50 ${q(0.5)} ms, p99 ${q(0.99)} ms`;
    console.log(`\n${line}`);
    return line;
  } finally {
    receiver.close();
  }
}

/** Starts the server on the embedded database in `dataDir`, as `npm start` does (after its build): the process and the seconds to /readyz 200. */
async function startEmbedded(dataDir: string): Promise<{ server: ChildProcess; port: number; seconds: number }> {
  const port = await freePort();
  const started = performance.now();
  const server = spawn(process.execPath, [...SERVER_NODE_ARGS, 'dist/src/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}`, DATA_DIR: dataDir, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', NODE_ENV: 'development' },
    stdio: ['ignore', openSync('/dev/null', 'w'), 'inherit'],
  });
  const exited = new Promise<never>((_, reject) => server.once('exit', (code) => reject(new Error(`the embedded server exited (${code}) before /readyz`))));
  for (;;) {
    const ready = await Promise.race([
      fetch(`http://127.0.0.1:${port}/readyz`).then(
        async (response) => (await response.arrayBuffer(), response.status === 200),
        () => false,
      ),
      exited,
    ]);
    if (ready) return { server, port, seconds: (performance.now() - started) / 1000 };
    if (performance.now() - started > 120_000) throw new Error('the embedded server was not ready after 120 s');
    await sleep(50);
  }
}

const FILLED_LEADS = 10_000;

/**
 * The embedded default (`npm start` with no DATABASE_URL): its start on a new
 * data folder, its memory at idle and under load, the two hot paths beside
 * the same server on Postgres, and its start on a filled folder (at least
 * 10,000 leads: those the leads table made, topped up while it is stopped).
 */
async function embedded(onPostgres: Deployment, children: ChildProcess[], summary: string[]): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'octiv-bench-embedded-'));
  try {
    const fresh = await startEmbedded(dataDir);
    children.push(fresh.server);
    await sleep(5_000);
    const idle = rssMiB(fresh.server.pid!, 'VmRSS');
    const publicUrl = `http://127.0.0.1:${fresh.port}`;
    const config = loadConfig({ PUBLIC_URL: publicUrl });
    const deployment: Deployment = { name: 'embedded', databaseUrl: '', publicUrl, server: fresh.server, config, ...(await createBenchKey(publicUrl, config)) };
    const legend = 'embedded = this server on its embedded database (npm start with no DATABASE_URL); postgres = the same server on Postgres';
    const leads = await compare('POST /api/v1/leads: the embedded database beside Postgres', legend, [leadsTarget('embedded', deployment), leadsTarget('postgres', onPostgres)]);
    const peakUnderLeads = rssMiB(fresh.server.pid!, 'VmHWM');
    const introspection = await compare('POST /oauth/token/introspection: the embedded database beside Postgres', legend, [
      introspectionTarget('embedded', deployment),
      introspectionTarget('postgres', onPostgres),
    ]);
    const peak = rssMiB(fresh.server.pid!, 'VmHWM');
    await stopProcess(fresh.server);

    // A filled folder: count the leads with the server stopped, top them up to FILLED_LEADS, start again.
    const pglite = await openEmbedded(dataDir);
    const counted = async () => Number((await pglite.query<{ n: number }>('select count(*)::int as n from members')).rows[0]!.n);
    const before = await counted();
    if (before < FILLED_LEADS) {
      await pglite.query(
        `insert into members (id, facility_id, first_name, last_name, email, source, status, created_by_key)
         select gen_random_uuid(), $1, 'Filled', 'Lead ' || i, 'filled.' || i || '@example.com', 'bench', 'lead', $2
         from generate_series(1, $3::int) i`,
        [DEMO.demoFitness.id, deployment.keyId, FILLED_LEADS - before],
      );
    }
    const leadsInFolder = await counted();
    await pglite.close();
    const filled = await startEmbedded(dataDir);
    children.push(filled.server);
    await stopProcess(filled.server);

    summary.push(
      `embedded: start to /readyz on a new folder ${fresh.seconds.toFixed(1)} s, on a filled one (${leadsInFolder.toLocaleString('en')} leads) ${filled.seconds.toFixed(1)} s (target < 10 s each)`,
      `embedded: RSS ${idle.toFixed(0)} MiB at idle after start (target <= 250), peak ${peakUnderLeads.toFixed(0)} MiB under the leads table (target <= 300), ${peak.toFixed(0)} MiB after introspection`,
      `embedded: leads embedded/postgres at 50 connections ${at50(leads.first).toFixed(2)}, introspection ${at50(introspection.first).toFixed(2)}`,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The scale run (`--keys N --leads M`): the same hot paths on a database of
 * 1,000 keys and 10,000 leads (small) and on one of N keys and M leads
 * (large), side by side in each table, then the large database's query
 * plans of the hot statements and its tables' sizes.
 */
async function scale(admin: knexFactory.Knex, children: ChildProcess[], databases: string[], summary: string[], large: ScaleSize): Promise<void> {
  const small: ScaleSize = { keys: 1_000, leads: 10_000 };
  const big = await deploy(admin, children, databases);
  const little = await deploy(admin, children, databases);
  for (const [label, deployment, size] of [['small', little, small], ['large', big, large]] as const) {
    console.log(`\nfilling the ${label} database: ${size.keys.toLocaleString('en')} keys, ${size.leads.toLocaleString('en')} leads`);
    const seconds = await fillDatabase(deployment.databaseUrl, size, hashToken(deployment.key));
    summary.push(`fill of the ${label} database (${size.keys.toLocaleString('en')} keys, ${size.leads.toLocaleString('en')} leads): ${seconds.toFixed(0)} s`);
  }
  if (TABLES.includes('leads')) {
    const ratios = await compare(
      `POST /api/v1/leads at two sizes`,
      `large = this server on ${large.keys.toLocaleString('en')} keys and ${large.leads.toLocaleString('en')} leads; small = on 1,000 keys and 10,000 leads`,
      [leadsTarget('large', big), leadsTarget('small', little)],
    );
    summary.push(`leads: large/small at 50 connections ${at50(ratios.first).toFixed(2)} (target >= 0.90)`);
  }
  if (TABLES.includes('introspection')) {
    const ratios = await compare(
      'POST /oauth/token/introspection at two sizes',
      `large = this server on ${large.keys.toLocaleString('en')} keys and ${large.leads.toLocaleString('en')} leads; small = on 1,000 keys and 10,000 leads`,
      [introspectionTarget('large', big), introspectionTarget('small', little)],
    );
    summary.push(`introspection: large/small at 50 connections ${at50(ratios.first).toFixed(2)} (target >= 0.90)`);
  }
  summary.push(`peak RSS of the server on the large database: ${rssMiB(big.server.pid!, 'VmHWM').toFixed(1)} MiB (target <= 150)`);
  console.log(`\nquery plans on the large database (EXPLAIN ANALYZE, rolled back):`);
  for (const line of await explainHotStatements(big.config, big.databaseUrl, big.key)) console.log(line);
  console.log(`\ntables of the large database:`);
  for (const line of await tableSizes(big.databaseUrl)) console.log(`  ${line}`);
}

async function main(): Promise<void> {
  const admin = knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } });
  const children: ChildProcess[] = [];
  const databases: string[] = [];
  const summary: string[] = [];
  try {
    const keys = option('keys');
    const leads = option('leads');
    if (keys !== undefined || leads !== undefined) await scale(admin, children, databases, summary, { keys: keys ?? 1_000, leads: leads ?? 0 });
    else await standard(admin, children, databases, summary);
    console.log(`\n${summary.join('\n')}`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await sleep(500);
    for (const name of databases) await admin.raw(`drop database if exists ${name} with (force)`);
    await admin.destroy();
  }
}

await main();
