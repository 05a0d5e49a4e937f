import { randomUUID } from 'node:crypto';

import test from 'ava';

import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const TOKEN = 'metrics-test-token-0123456789';
let server: TestServer;
let owner: string;

test.before(async () => {
  server = await startTestServer({ env: { METRICS_TOKEN: TOKEN } });
  owner = await signIn(server, 'owner@demo.test');
});
test.after.always(async () => {
  await server?.close();
});

const scrape = async () => {
  const response = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};
/** The value of one series (0 when it is not there yet). */
const value = (text: string, series: string) => Number(text.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1] ?? 0);

test('GET /metrics: Prometheus text to the bearer of METRICS_TOKEN; 401 without it; 404 when it is not set', async (t) => {
  const metrics = await scrape();
  t.is(metrics.status, 200);
  t.regex(metrics.type ?? '', /^text\/plain/);
  t.regex(metrics.text, /process_cpu_seconds_total/);
  t.regex(metrics.text, /db_pool_size \d+/);
  t.is((await fetch(`${server.url}/metrics`)).status, 401);
  t.is((await fetch(`${server.url}/metrics`, { headers: { Authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
  const plain = await startTestServer();
  try {
    t.is((await fetch(`${plain.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 404);
  } finally {
    await plain.close();
  }
});

test('the counters move: requests by route template, keys, leads, refusals by reason, limits hit', async (t) => {
  const before = (await scrape()).text;
  const created = await createKey(server, owner, 'Counted');
  await api(server, `/api/v1/api-keys/${created.id}/rotate`, { token: owner, body: { graceSeconds: 0 } });
  const rotated = await api(server, `/api/v1/api-keys/${created.id}`, { token: owner });
  t.is(rotated.status, 200);
  const limited = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Tiny Limit', scopes: ['leads:create'], rateLimit: { limit: 1, windowSeconds: 60 } } });
  const post = (key: string) => api(server, '/api/v1/leads', { body: { firstName: 'M', lastName: 'C', email: `metrics.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
  t.is((await post(limited.body.key as string)).status, 201);
  t.is((await post(limited.body.key as string)).status, 429);
  t.is((await post(created.key)).status, 401, 'the rotated-out secret');
  await api(server, `/api/v1/api-keys/${created.id}`, { token: owner, method: 'DELETE' });
  const after = (await scrape()).text;
  const grew = (series: string, by: number) => t.is(value(after, series) - value(before, series), by, series);
  grew('api_keys_created_total', 2);
  grew('api_keys_rotated_total', 1);
  grew('api_keys_ended_total{how="deleted"}', 1);
  grew('leads_created_total', 1);
  grew('api_key_refusals_total{reason="rotated_out"}', 1);
  grew('rate_limits_hit_total{route="/api/v1/leads"}', 1);
  grew('http_requests_total{route="/api/v1/leads",method="POST",status="201"}', 1);
  grew('http_requests_total{route="/api/v1/api-keys/:id",method="GET",status="200"}', 1);
  t.regex(after, /http_request_duration_seconds_bucket\{le="0.05",route="\/api\/v1\/leads",method="POST"\} \d+/);
  t.false(after.includes(created.id), 'no id ever becomes a label');
});
