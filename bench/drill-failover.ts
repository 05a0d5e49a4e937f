import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';

import { loadConfig } from '../src/config.js';
import { api } from '../test/helpers/oauth.js';
import { PGBOUNCER_PATH } from '../test/helpers/pgbouncer.js';
import { freePort } from '../test/helpers/process.js';
import type { TestServer } from '../test/helpers/server.js';
import { createCluster, missingTools, PG_BIN, type Cluster, type ClusterOptions } from './failover-cluster.js';
import { createBenchKey, seedDatabase, signInAsOwner, startProcess, stopProcess } from './our-server.js';

/**
 * npm run drill:failover: a Postgres failover under lead traffic, as
 * ../shared/API.md "Poolers and failover" asks, on a cluster built for it
 * (failover-cluster.ts): a primary with a synchronous standby, PgBouncer in
 * front, and the real server (`node dist/src/main.js`) through PgBouncer.
 *
 * With lead traffic running (LEAD_LOOPS requests at a time, each with a new
 * email), the primary is stopped hard, the standby promoted PROMOTE_AFTER_MS
 * later and PgBouncer pointed at it. It prints the answers during the outage
 * by status, the time from promotion to the first 201, the leads answered 201
 * that the new primary lacks, and what a key deleted before the failover gets
 * after it. Exit 0 when every check passes, 1 when one fails (named), 3 when
 * the machine lacks Postgres's binaries or PgBouncer (SKIPPED, said loudly).
 *
 * Other settings to try: DRILL_POOL_MODE=session (default transaction, with
 * DATABASE_PREPARED_STATEMENTS=off); DRILL_SYNCHRONOUS_COMMIT=local (an
 * asynchronous standby, to see what it loses); DRILL_REPOINT=first (the
 * pooler pointed at the standby PROMOTE_AFTER_MS before it is promoted, as
 * an address that follows the standby might: writes meet a read-only server).
 */

const LEAD_LOOPS = 20;
const REQUEST_TIMEOUT_MS = 10_000;
const TRAFFIC_BEFORE_MS = 3_000;
const PROMOTE_AFTER_MS = 1_500;
const TRAFFIC_AFTER_RECOVERY_MS = 4_000;
const RECOVERY_LIMIT_MS = 30_000;

const REPOINT_FIRST = process.env.DRILL_REPOINT === 'first';
const OPTIONS: ClusterOptions = {
  poolMode: process.env.DRILL_POOL_MODE === 'session' ? 'session' : 'transaction',
  synchronousCommit: process.env.DRILL_SYNCHRONOUS_COMMIT === 'local' ? 'local' : 'remote_apply',
};

/** What each kind of request answers when the database is there; while it is not, only 503 with Retry-After may come instead. */
const EXPECTED = {
  lead: 201,
  'lead with the deleted key': 401,
  'introspection of the live key': 200,
  'introspection of the deleted key': 200,
  'code exchange of an unknown code': 400,
} as const;

/** What one request was sent as and what came back. `status` 0: no answer (timeout or connection refused). */
interface Answer {
  what: keyof typeof EXPECTED;
  sentAt: number;
  answeredAt: number;
  status: number;
  retryAfter: boolean;
  email?: string;
  /** Introspection's `active`. */
  active?: boolean;
  error?: string;
}

/** The moments of the failover, in ms of `performance.now()`. */
interface Timeline {
  trafficStart: number;
  /** `pg_ctl stop -m immediate` began (answers already on their way may still come back 201)... */
  stopping?: number;
  /** ...and returned: the primary's processes are gone. */
  stopped?: number;
  promoted?: number;
  promoteTook?: number;
  repointed?: number;
  recovered?: number;
}

interface Deployment {
  server: ChildProcess;
  publicUrl: string;
  config: ReturnType<typeof loadConfig>;
  liveKey: string;
  deletedKey: string;
  /** The server's log lines at warn and above. */
  problems: string[];
}

/** Seeds the database, starts the server through the pooler, makes the live key and a key deleted at once. */
async function deploy(cluster: Cluster, port: number, track: (server: ChildProcess) => void): Promise<Deployment> {
  await seedDatabase(cluster.directUrl(cluster.primaryPort));
  const publicUrl = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: cluster.poolerUrl,
    // Named statements do not survive a transaction pooler: each transaction may get another server connection.
    ...(OPTIONS.poolMode === 'transaction' ? { DATABASE_PREPARED_STATEMENTS: 'off' } : {}),
    PUBLIC_URL: publicUrl,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
  };
  const problems: string[] = [];
  const server = await startProcess('dist/src/main.js', env, port, (line) => {
    if (/"level":"(warn|error|fatal)"/.test(line)) problems.push(line);
  });
  track(server);
  const config = loadConfig({ PUBLIC_URL: publicUrl, DATABASE_URL: cluster.poolerUrl });
  const owner = await signInAsOwner(publicUrl, config);
  const live = await createBenchKey(publicUrl, config, { name: 'Failover drill', staffToken: owner });
  const deleted = await createBenchKey(publicUrl, config, { name: 'Failover drill, deleted before', staffToken: owner });
  const gone = await api({ url: publicUrl } as TestServer, `/api/v1/api-keys/${deleted.keyId}`, { token: owner, method: 'DELETE' });
  if (gone.status !== 204) throw new Error(`deleting the second key answered ${gone.status}`);
  return { server, publicUrl, config, liveKey: live.key, deletedKey: deleted.key, problems };
}

const runId = randomBytes(3).toString('hex');
let leadNumber = 0;

async function send(what: Answer['what'], request: () => Promise<Response>, email?: string): Promise<Answer> {
  const sentAt = performance.now();
  try {
    const response = await request();
    const body = (await response.json().catch(() => undefined)) as { active?: boolean } | undefined;
    return {
      what,
      sentAt,
      answeredAt: performance.now(),
      status: response.status,
      retryAfter: response.headers.has('retry-after'),
      ...(email ? { email } : {}),
      ...(typeof body?.active === 'boolean' ? { active: body.active } : {}),
    };
  } catch (error) {
    return { what, sentAt, answeredAt: performance.now(), status: 0, retryAfter: false, error: String((error as Error).cause ?? error) };
  }
}

function postLead(deployment: Deployment, key: string, what: Answer['what']): Promise<Answer> {
  leadNumber += 1;
  const email = `drill.${runId}.${leadNumber}@example.com`;
  const request = () =>
    fetch(`${deployment.publicUrl}/api/v1/leads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ firstName: 'Drill', lastName: 'Failover', email, source: 'failover-drill' }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  return send(what, request, email);
}

function introspect(deployment: Deployment, key: string, what: Answer['what']): Promise<Answer> {
  const { id, secret } = deployment.config.leadsApiClient;
  const request = () =>
    fetch(`${deployment.publicUrl}/oauth/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: key }).toString(),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  return send(what, request);
}

/** A code exchange at the token endpoint (oidc-provider's own route): an unknown code, looked up in the database first. */
function exchangeCode(deployment: Deployment): Promise<Answer> {
  const request = () =>
    fetch(`${deployment.publicUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'no-such-code',
        client_id: 'octiv-app',
        redirect_uri: `${deployment.publicUrl}/console/callback`,
        code_verifier: 'v'.repeat(43),
      }).toString(),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  return send('code exchange of an unknown code', request);
}

/**
 * Sends until `running()` turns false: LEAD_LOOPS loops of leads with the
 * live key, and one slow loop (a request every 100 ms) each of leads with
 * the deleted key, introspections of each key and code exchanges.
 */
function driveTraffic(deployment: Deployment, answers: Answer[], running: () => boolean): Promise<void> {
  const loop = async (next: () => Promise<Answer>, pauseMs = 0) => {
    while (running()) {
      answers.push(await next());
      if (pauseMs) await sleep(pauseMs);
    }
  };
  return Promise.all([
    ...Array.from({ length: LEAD_LOOPS }, () => loop(() => postLead(deployment, deployment.liveKey, 'lead'))),
    loop(() => postLead(deployment, deployment.deletedKey, 'lead with the deleted key'), 100),
    loop(() => introspect(deployment, deployment.liveKey, 'introspection of the live key'), 100),
    loop(() => introspect(deployment, deployment.deletedKey, 'introspection of the deleted key'), 100),
    loop(() => exchangeCode(deployment), 100),
  ]).then(() => undefined);
}

/** The failover itself, with traffic running: stop the primary, wait, promote the standby, repoint the pooler, wait for a 201. */
async function failover(cluster: Cluster, answers: Answer[], timeline: Timeline): Promise<void> {
  await sleep(TRAFFIC_BEFORE_MS);
  timeline.stopping = performance.now();
  await cluster.stopPrimary();
  timeline.stopped = performance.now();
  await sleep(PROMOTE_AFTER_MS);
  const repoint = async () => {
    await cluster.repointPooler(cluster.standbyPort);
    timeline.repointed = performance.now();
  };
  if (REPOINT_FIRST) {
    await repoint();
    await sleep(PROMOTE_AFTER_MS);
  }
  const promoting = performance.now();
  await cluster.promoteStandby();
  timeline.promoted = performance.now();
  timeline.promoteTook = timeline.promoted - promoting;
  if (!REPOINT_FIRST) await repoint();
  const deadline = timeline.promoted + RECOVERY_LIMIT_MS;
  while (performance.now() < deadline) {
    const first = answers.find((answer) => answer.what === 'lead' && answer.status === 201 && answer.answeredAt > timeline.promoted!);
    if (first) {
      timeline.recovered = first.answeredAt;
      break;
    }
    await sleep(20);
  }
  if (timeline.recovered) await sleep(TRAFFIC_AFTER_RECOVERY_MS);
}

/** The emails among `emails` that the members table at `url` lacks. */
async function missingLeads(url: string, emails: string[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined); // a connection lost while idle: the query fails and says so
  await client.connect();
  try {
    const { rows } = await client.query<{ email: string }>('select email from members where email = any($1::text[])', [emails]);
    const found = new Set(rows.map((row) => row.email));
    return emails.filter((email) => !found.has(email));
  } finally {
    await client.end();
  }
}

const count = (n: number) => n.toLocaleString('en');

const tally = (answers: Answer[]) => {
  const counts = new Map<string, number>();
  for (const answer of answers) {
    const label = answer.status === 0 ? 'no answer' : answer.active === undefined ? String(answer.status) : `${answer.status} active:${answer.active}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts].sort(([, x], [, y]) => y - x).map(([label, n]) => `${count(n)}×${label}`).join(', ') || 'none';
};

interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

/** The drill's verdicts, from the answers, the timeline and the new primary's members table. */
async function judge(cluster: Cluster, deployment: Deployment, answers: Answer[], timeline: Timeline): Promise<Check[]> {
  const leads = answers.filter((answer) => answer.what === 'lead');
  const otherwise = answers.filter((answer) => answer.status !== EXPECTED[answer.what]);
  const unexpected = otherwise.filter((answer) => answer.status !== 503 || !answer.retryAfter);
  const serverErrors = answers.filter((answer) => answer.status >= 500 && answer.status !== 503);
  const falseRefusals = answers.filter(
    (answer) => (answer.what === 'lead' && answer.status === 401) || (answer.what === 'introspection of the live key' && answer.active === false),
  );
  const deletedAccepted = answers.filter(
    (answer) => (answer.what === 'lead with the deleted key' && answer.status === 201) || (answer.what === 'introspection of the deleted key' && answer.active === true),
  );
  const accepted = leads.filter((answer) => answer.status === 201).map((answer) => answer.email!);
  const newPrimary = cluster.directUrl(cluster.standbyPort);
  const missing = await missingLeads(newPrimary, accepted);
  const after = await postLead(deployment, deployment.deletedKey, 'lead with the deleted key');
  const liveAfter = await postLead(deployment, deployment.liveKey, 'lead');
  const recoverySeconds = timeline.recovered && timeline.promoted ? (timeline.recovered - timeline.promoted) / 1000 : undefined;
  return [
    {
      name: 'every answer but the usual one was 503 with Retry-After',
      passed: unexpected.length === 0,
      detail: `${count(otherwise.length - unexpected.length)} of ${count(otherwise.length)}; otherwise: ${unexpected.length ? [...new Set(unexpected.map((answer) => answer.what))].map((what) => `${what} ${tally(unexpected.filter((answer) => answer.what === what))}`).join('; ') : 'none'}`,
    },
    { name: 'no 500 (or other 5xx but 503) to any request', passed: serverErrors.length === 0, detail: `${serverErrors.length}` },
    { name: 'no false refusal of the live key (401, or introspection active:false)', passed: falseRefusals.length === 0, detail: `${falseRefusals.length}` },
    { name: 'the deleted key never accepted (a lead 201, or introspection active:true)', passed: deletedAccepted.length === 0, detail: `${deletedAccepted.length}` },
    {
      name: `recovery without a restart within ${RECOVERY_LIMIT_MS / 1000} s of promotion`,
      passed: recoverySeconds !== undefined && deployment.server.exitCode === null && liveAfter.status === 201,
      detail: recoverySeconds === undefined ? 'no 201 after promotion' : `first 201 ${recoverySeconds.toFixed(2)} s after promotion; server pid ${deployment.server.pid} still running; a lead after the drill ${liveAfter.status}`,
    },
    { name: 'no lead answered 201 missing from the new primary', passed: missing.length === 0, detail: `${count(missing.length)} missing of ${count(accepted.length)}` },
    { name: 'the key deleted before the failover refused after it (401)', passed: after.status === 401, detail: `${after.status}` },
  ];
}

function report(cluster: Cluster, deployment: Deployment, answers: Answer[], timeline: Timeline, checks: Check[]): void {
  const at = (ms: number | undefined) => (ms === undefined ? '-' : `${((ms - timeline.trafficStart) / 1000).toFixed(2)} s`);
  const outageEnd = timeline.recovered ?? Number.POSITIVE_INFINITY;
  // The outage begins with the stop: a 201 answered while pg_ctl stops the primary was committed (and applied on the standby) before.
  const phase = (answer: Answer) => (answer.answeredAt < timeline.stopping! ? 'before' : answer.answeredAt < outageEnd ? 'outage' : 'after');
  const byPhase = (what: Answer['what'], name: string) => answers.filter((answer) => answer.what === what && phase(answer) === name);
  const outageSeconds = ((outageEnd === Number.POSITIVE_INFINITY ? performance.now() : outageEnd) - timeline.stopping!) / 1000;
  const outageLeads = byPhase('lead', 'outage');
  console.log(`
Failover drill: primary :${cluster.primaryPort} with a standby :${cluster.standbyPort} (synchronous_commit=${OPTIONS.synchronousCommit}), PgBouncer :${cluster.poolerPort} in ${OPTIONS.poolMode} mode${REPOINT_FIRST ? ' (repointed before the promotion)' : ''}, the server (pid ${deployment.server.pid}) through it, ${LEAD_LOOPS} lead loops
timeline from the start of traffic: primary stopped (immediate) ${at(timeline.stopping)} to ${at(timeline.stopped)}, standby promoted ${at(timeline.promoted)} (pg_ctl promote took ${((timeline.promoteTook ?? 0) / 1000).toFixed(2)} s), PgBouncer repointed ${at(timeline.repointed)}, first 201 after promotion ${at(timeline.recovered)}
outage (primary stopped to the first 201 after promotion, ${outageSeconds.toFixed(2)} s), leads answered: ${tally(outageLeads)}; ${count(outageLeads.filter((answer) => answer.status === 503 && answer.retryAfter).length)} of the 503s with Retry-After`);
  for (const what of Object.keys(EXPECTED) as Answer['what'][]) {
    console.log(`${what}: before ${tally(byPhase(what, 'before'))}; outage ${tally(byPhase(what, 'outage'))}; after ${tally(byPhase(what, 'after'))}`);
  }
  console.log('');
  for (const check of checks) console.log(`${check.passed ? 'PASS' : 'FAIL'} ${check.name}: ${check.detail}`);
  const failed = checks.filter((check) => !check.passed);
  if (failed.length > 0) {
    const causes = new Map<string, number>();
    for (const line of deployment.problems) {
      const entry = JSON.parse(line) as { msg?: string; err?: { code?: string; message?: string } };
      const cause = `${entry.msg ?? ''}: ${entry.err?.code ?? ''} ${entry.err?.message ?? ''}`.slice(0, 200);
      causes.set(cause, (causes.get(cause) ?? 0) + 1);
    }
    console.log(`\nthe server's warnings and errors during the drill:\n${[...causes].map(([cause, count]) => `  ${count}× ${cause}`).join('\n') || '  none'}`);
  }
  console.log(`\n${failed.length === 0 ? 'PASSED: every check' : `FAILED: ${failed.map((check) => check.name).join('; ')}`}`);
}

/** Stops the server, then the cluster, whatever happened; also on Ctrl-C. */
async function withCleanup<T>(cluster: Cluster, work: (track: (server: ChildProcess) => void) => Promise<T>): Promise<T> {
  let server: ChildProcess | undefined;
  const cleanup = async () => {
    if (server) await Promise.race([stopProcess(server), sleep(15_000).then(() => server!.kill('SIGKILL'))]);
    await cluster.close();
  };
  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the drill's processes and removing ${cluster.dir}`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await work((child) => (server = child));
  } finally {
    await cleanup();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

async function main(): Promise<number> {
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(`\n*** SKIPPED: the failover drill needs Postgres's binaries (${PG_BIN}) and PgBouncer (${PGBOUNCER_PATH}); missing: ${missing.join(', ')} ***\n`);
    return 3;
  }
  const cluster = await createCluster(OPTIONS);
  return withCleanup(cluster, async (track) => {
    console.log(`building a primary, a synchronous standby and PgBouncer in ${cluster.dir}`);
    await cluster.start();
    const deployment = await deploy(cluster, await freePort(), track);
    const answers: Answer[] = [];
    const timeline: Timeline = { trafficStart: performance.now() };
    let running = true;
    const traffic = driveTraffic(deployment, answers, () => running);
    try {
      await failover(cluster, answers, timeline);
    } finally {
      running = false;
      await traffic;
    }
    const checks = await judge(cluster, deployment, answers, timeline);
    report(cluster, deployment, answers, timeline, checks);
    return checks.every((check) => check.passed) ? 0 : 1;
  });
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(`\nFAILED: the drill itself failed: ${(error as Error).stack ?? String(error)}`);
  return 1;
});
