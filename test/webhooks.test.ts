import { randomUUID } from 'node:crypto';

import test from 'ava';
import { Webhook } from 'standardwebhooks';

import { isPublicAddress, resolveTarget, urlProblem } from '../src/webhooks/addresses.js';
import { postDelivery } from '../src/webhooks/sender.js';
import { eventually } from './helpers/eventually.js';
import { createKey } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// API.md "Webhooks": endpoints managed by staff, events stored with their
// cause, delivered at least once, signed per Standard Webhooks, retried on a
// schedule with the same webhook-id, to public addresses only in production.

let server: TestServer;
let owner: string;
let leadKey: string;
let readKey: string;

test.before(async () => {
  // Quick retries for the tests: 1 s, then 1 s (three attempts).
  server = await startTestServer({ env: { WEBHOOK_RETRY_SCHEDULE: '1,1' } });
  owner = await signIn(server, 'owner@demo.test');
  leadKey = (await createKey(server, owner, 'Hooks landing page')).key;
  readKey = (await createKey(server, owner, 'Hooks CRM', ['leads:read'])).key;
});
test.after.always(async () => {
  await server?.close();
});

const endpoint = (body: Record<string, unknown>) => api(server, '/api/v1/webhook-endpoints', { token: owner, body });
const lead = () => ({ firstName: 'Hook', lastName: 'Ed', email: `hook.${randomUUID()}@example.com` });

type LoggedDelivery = { id: string; eventId: string; status: string; attempts: number; responseStatus: number | null };

/** The whole deliveries log of an endpoint, page after page (other tests' events reach endpoints that want them too). */
async function deliveries(id: string): Promise<LoggedDelivery[]> {
  const all: LoggedDelivery[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { items: LoggedDelivery[]; nextCursor: string | null } } = await api(server, `/api/v1/webhook-endpoints/${id}/deliveries?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token: owner });
    if (page.status !== 200) throw new Error(JSON.stringify(page.body));
    all.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return all;
}

test('endpoints: created with a secret shown once, listed without it, changed, deleted; each change an audit event', async (t) => {
  const created = await endpoint({ url: 'http://127.0.0.1:9/hooks', events: ['lead.created'], description: 'CRM sync' });
  t.is(created.status, 201);
  t.is(created.headers.get('cache-control'), 'no-store');
  t.regex(created.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  t.is(created.body.secretHint, created.body.secret.slice(-4));
  const listed = await api(server, '/api/v1/webhook-endpoints', { token: owner });
  const entry = listed.body.items.find((item: { id: string }) => item.id === created.body.id);
  t.like(entry, { url: 'http://127.0.0.1:9/hooks', events: ['lead.created'], description: 'CRM sync', enabled: true, disabledReason: null });
  t.false(JSON.stringify(listed.body).includes(created.body.secret), 'never the secret again');
  const changed = await api(server, `/api/v1/webhook-endpoints/${created.body.id}`, { token: owner, method: 'PATCH', body: { events: ['*'], enabled: false } });
  t.like(changed.body, { events: ['*'], enabled: false });
  t.is((await api(server, `/api/v1/webhook-endpoints/${created.body.id}`, { token: owner, method: 'DELETE' })).status, 204);
  t.is((await api(server, `/api/v1/webhook-endpoints/${created.body.id}`, { token: owner })).status, 404);
  const actions = (await api(server, `/api/v1/audit-events?limit=50`, { token: owner })).body.items
    .filter((event: { target: { id: string } | null }) => event.target?.id === created.body.id)
    .map((event: { action: string }) => event.action);
  t.deepEqual(actions.sort(), ['webhook_endpoint.created', 'webhook_endpoint.deleted', 'webhook_endpoint.updated']);
  // Stored sealed: the secret is nowhere in the database.
  t.false(JSON.stringify(await server.db('webhook_secrets').select('*')).includes(created.body.secret.slice(6)));
});

test('bad input names the field; without the permission 403; another facility\'s endpoint 404', async (t) => {
  for (const [body, path] of [
    [{ url: 'ftp://example.com/x', events: ['lead.created'] }, 'url'],
    [{ url: 'not a url', events: ['lead.created'] }, 'url'],
    [{ url: 'https://user:pw@example.com/x', events: ['lead.created'] }, 'url'],
    [{ url: 'https://example.com/x', events: [] }, 'events'],
    [{ url: 'https://example.com/x', events: ['lead.deleted'] }, 'events.0'],
    [{ url: 'https://example.com/x', events: ['*'], description: 'АРІ hooks' }, 'description'],
    [{ url: 'https://example.com/x', events: ['*'], colour: 'red' }, ''],
  ] as const) {
    const refused = await endpoint(body);
    t.is(refused.status, 400, JSON.stringify(body));
    if (path) t.true(refused.body.errors.some((error: { path: string }) => error.path === path), JSON.stringify(refused.body.errors));
  }
  const trainer = await signIn(server, 'trainer@demo.test');
  t.is((await api(server, '/api/v1/webhook-endpoints', { token: trainer })).status, 403);
  const mine = await endpoint({ url: 'http://127.0.0.1:9/x', events: ['*'] });
  const other = await signIn(server, 'owner@other.test');
  t.is((await api(server, `/api/v1/webhook-endpoints/${mine.body.id}`, { token: other })).status, 404);
  t.is((await api(server, `/api/v1/webhook-endpoints/${mine.body.id}/deliveries`, { token: other })).status, 404);
  t.is((await api(server, `/api/v1/webhook-endpoints/${mine.body.id}/deliveries?status=lost`, { token: owner })).status, 400);
  t.is((await api(server, `/api/v1/webhook-endpoints/${mine.body.id}/deliveries?cursor=bogus`, { token: owner })).status, 400);
});

test('lead.created: every new lead, delivered signed per Standard Webhooks, its data the lead as GET /leads/{id} shows it', async (t) => {
  const receiver = await startReceiver();
  try {
    const made = await endpoint({ url: receiver.url, events: ['lead.created'] });
    const created = (await api(server, '/api/v1/leads', { token: leadKey, body: lead() })).body;
    const [delivered] = await eventually(() => receiver.of(`evt_${created.id}`).length > 0 && receiver.of(`evt_${created.id}`), { what: 'the delivery', timeoutMs: 30_000 });
    // Any Standard Webhooks library verifies it with the endpoint's secret.
    const payload = new Webhook(made.body.secret).verify(delivered!.body, delivered!.headers as Record<string, string>) as { type: string; data: unknown; timestamp: string };
    t.is(payload.type, 'lead.created');
    t.deepEqual(payload.data, (await api(server, `/api/v1/leads/${created.id}`, { token: readKey })).body);
    t.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(delivered!.body, delivered!.headers as Record<string, string>), undefined, 'another secret does not verify');
    const log = await eventually(async () => (await deliveries(made.body.id)).find((entry) => entry.eventId === `evt_${created.id}` && entry.status === 'succeeded'), { what: 'the log', timeoutMs: 30_000 });
    t.like(log, { attempts: 1, responseStatus: 200 });
  } finally {
    await receiver.close();
  }
});

test('a failing receiver is tried again on the schedule with the same webhook-id until it answers 2xx', async (t) => {
  const receiver = await startReceiver({ answer: (_request, count) => (count < 3 ? 500 : 204) });
  try {
    const made = await endpoint({ url: receiver.url, events: ['lead.created'] });
    const created = (await api(server, '/api/v1/leads', { token: leadKey, body: lead() })).body;
    await eventually(() => receiver.of(`evt_${created.id}`).length >= 3, { what: 'three attempts', timeoutMs: 40_000 });
    const attempts = receiver.of(`evt_${created.id}`);
    t.is(new Set(attempts.map((entry) => entry.body)).size, 1, 'the same body each time');
    t.true(attempts[1]!.at - attempts[0]!.at >= 900, 'the first wait of the schedule (1 s)');
    const log = await eventually(async () => (await deliveries(made.body.id)).find((entry) => entry.eventId === `evt_${created.id}` && entry.status === 'succeeded'), { what: 'success in the log', timeoutMs: 30_000 });
    t.like(log, { attempts: 3, responseStatus: 204 });
  } finally {
    await receiver.close();
  }
});

test('a schedule spent fails the delivery; a retry delivers it again now; a test event; a deleted key is api_key.revoked', async (t) => {
  let healthy = false;
  const receiver = await startReceiver({ answer: () => (healthy ? 200 : 503) });
  try {
    const made = await endpoint({ url: receiver.url, events: ['*'] });
    const sent = await api(server, `/api/v1/webhook-endpoints/${made.body.id}/test`, { token: owner, method: 'POST' });
    t.is(sent.status, 202);
    const failed = await eventually(async () => (await deliveries(made.body.id)).find((entry) => entry.eventId === sent.body.eventId && entry.status === 'failed'), { what: 'a failed delivery', timeoutMs: 40_000 });
    t.is(failed.attempts, 3, 'n waits make n + 1 attempts');
    healthy = true;
    const [row] = await server.db('webhook_deliveries').where({ event_id: sent.body.eventId }).pluck('id');
    t.is((await api(server, `/api/v1/webhook-deliveries/${row}/retry`, { token: owner, method: 'POST' })).status, 202);
    await eventually(async () => (await deliveries(made.body.id)).find((entry) => entry.eventId === sent.body.eventId && entry.status === 'succeeded'), { what: 'the retry', timeoutMs: 30_000 });
    t.is(JSON.parse(receiver.of(sent.body.eventId).at(-1)!.body).type, 'webhook.test');

    const gone = await createKey(server, owner, `Gone ${randomUUID()}`);
    t.is((await api(server, `/api/v1/api-keys/${gone.id}`, { token: owner, method: 'DELETE' })).status, 204);
    const revoked = await eventually(() => receiver.received.find((entry) => JSON.parse(entry.body).type === 'api_key.revoked' && JSON.parse(entry.body).data.id === gone.id), { what: 'api_key.revoked', timeoutMs: 30_000 });
    t.like(JSON.parse(revoked.body).data, { id: gone.id, name: gone.name, reason: 'deleted' });
    t.regex(JSON.parse(revoked.body).data.hint, /^oct_pat_…\w{4}$/);
    t.is((await api(server, `/api/v1/webhook-deliveries/${randomUUID()}/retry`, { token: owner, method: 'POST' })).status, 404);
  } finally {
    await receiver.close();
  }
});

test('a rotated secret: for 24 hours every delivery carries a signature by each secret, and either verifies it', async (t) => {
  const receiver = await startReceiver();
  try {
    const made = await endpoint({ url: receiver.url, events: ['webhook.test'] });
    const rotated = await api(server, `/api/v1/webhook-endpoints/${made.body.id}/rotate-secret`, { token: owner, method: 'POST' });
    t.is(rotated.status, 201);
    t.not(rotated.body.secret, made.body.secret);
    const sent = (await api(server, `/api/v1/webhook-endpoints/${made.body.id}/test`, { token: owner, method: 'POST' })).body;
    const [delivered] = await eventually(() => receiver.of(sent.eventId).length > 0 && receiver.of(sent.eventId), { what: 'the delivery', timeoutMs: 30_000 });
    t.is(String(delivered!.headers['webhook-signature']).split(' ').length, 2);
    for (const secret of [made.body.secret, rotated.body.secret]) t.notThrows(() => new Webhook(secret).verify(delivered!.body, delivered!.headers as Record<string, string>));
  } finally {
    await receiver.close();
  }
});

test('api_key.expiring: 7 days before, and again 1 day before, once across processes', async (t) => {
  const receiver = await startReceiver();
  try {
    await endpoint({ url: receiver.url, events: ['api_key.expiring'] });
    const soon = await api(server, '/api/v1/api-keys', { token: owner, body: { name: `Soon ${randomUUID()}`, scopes: ['leads:create'], expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString() } });
    const worker = server.services.webhookWorker!;
    t.true((await worker.sweep()) >= 1);
    t.is(await worker.sweep(), 0, 'the notice is sent once');
    const notice = await eventually(() => receiver.received.find((entry) => JSON.parse(entry.body).data.id === soon.body.id), { what: 'the notice', timeoutMs: 30_000 });
    t.like(JSON.parse(notice.body), { type: 'api_key.expiring', data: { id: soon.body.id, name: soon.body.name, expiresAt: soon.body.expiresAt } });
    // A day before: the second notice.
    await server.db('api_keys').where({ id: soon.body.id }).update({ expires_at: server.db.raw(`now() + interval '20 hours'`) });
    t.is(await worker.sweep(), 1);
    t.is((await server.db('api_key_expiry_notices').where({ key_id: soon.body.id }).orderBy('days_before')).map((row: { days_before: number }) => row.days_before).join(','), '1,7');
  } finally {
    await receiver.close();
  }
});

test('an endpoint whose deliveries have all failed for 5 days is turned off, with an audit event and a reason', async (t) => {
  const receiver = await startReceiver({ answer: () => 500 });
  try {
    const made = await endpoint({ url: receiver.url, events: ['webhook.test'] });
    await server.db('webhook_endpoints').where({ id: made.body.id }).update({ failing_since: server.db.raw(`now() - interval '6 days'`) });
    await api(server, `/api/v1/webhook-endpoints/${made.body.id}/test`, { token: owner, method: 'POST' });
    const off = await eventually(async () => {
      const found = (await api(server, `/api/v1/webhook-endpoints/${made.body.id}`, { token: owner })).body;
      return !found.enabled && found;
    }, { what: 'the endpoint turned off', timeoutMs: 30_000 });
    t.regex(off.disabledReason, /Every delivery failed for 5 days/);
    const events = (await api(server, `/api/v1/audit-events?action=webhook_endpoint.disabled`, { token: owner })).body.items;
    t.true(events.some((event: { target: { id: string } }) => event.target.id === made.body.id));
    // While it is off, a test event or a retry would only fail: 409, and nothing is queued.
    const [failed] = await deliveries(made.body.id);
    const pendingBefore = await server.db('webhook_deliveries').where({ endpoint_id: made.body.id, status: 'pending' }).count('* as n').first();
    const test409 = await api(server, `/api/v1/webhook-endpoints/${made.body.id}/test`, { token: owner, method: 'POST' });
    t.is(test409.status, 409);
    t.regex(test409.body.detail, /turned off/);
    t.is((await api(server, `/api/v1/webhook-deliveries/${failed!.id}/retry`, { token: owner, method: 'POST' })).status, 409);
    // Not more pending than before (the worker may meanwhile settle the one that was: the endpoint is off).
    const pendingAfter = await server.db('webhook_deliveries').where({ endpoint_id: made.body.id, status: 'pending' }).count('* as n').first();
    t.true(Number(pendingAfter?.n) <= Number(pendingBefore?.n), `pending before ${pendingBefore?.n}, after ${pendingAfter?.n}`);
    t.is((await deliveries(made.body.id)).length, 1, 'no new delivery');
    // Turned on again by staff: it starts over.
    t.like((await api(server, `/api/v1/webhook-endpoints/${made.body.id}`, { token: owner, method: 'PATCH', body: { enabled: true } })).body, { enabled: true, disabledReason: null });
  } finally {
    await receiver.close();
  }
});

test('two workers on one database: every delivery is sent once, never by both at the same moment', async (t) => {
  const second = await startTestServer({ share: server, env: { WEBHOOK_RETRY_SCHEDULE: '1,1' } });
  const receiver = await startReceiver({ delayMs: 50 });
  try {
    const made = await endpoint({ url: receiver.url, events: ['lead.created'] });
    const ids = (await Promise.all(Array.from({ length: 30 }, () => api(server, '/api/v1/leads', { token: leadKey, body: lead() })))).map((answer) => answer.body.id as string);
    await eventually(() => ids.every((id) => receiver.of(`evt_${id}`).length > 0), { what: 'every lead delivered', timeoutMs: 40_000 });
    // Every delivery recorded as succeeded, then count what the receiver got: exactly one each.
    const recorded = () => server.db('webhook_deliveries').where({ endpoint_id: made.body.id, status: 'succeeded' }).whereIn('event_id', ids.map((id) => `evt_${id}`)).count('* as n').first();
    await eventually(async () => Number((await recorded())?.n) === 30, { what: 'every delivery recorded', timeoutMs: 30_000 });
    for (const id of ids) t.is(receiver.of(`evt_${id}`).length, 1, id);
  } finally {
    await receiver.close();
    await second.close();
  }
});

test('in production, private, loopback, link-local and metadata addresses are refused when saved and at delivery', async (t) => {
  const production = { production: true };
  for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00:ec2::254', 'fe80::1', '::ffff:127.0.0.1', '::ffff:a9fe:a9fe']) {
    t.false(isPublicAddress(address), address);
  }
  for (const address of ['93.184.216.34', '2606:4700:4700::1111', '8.8.8.8']) t.true(isPublicAddress(address), address);
  t.is(urlProblem('http://hooks.example.com/x', production), 'must be an https URL');
  t.regex(urlProblem('https://127.0.0.1/x', production) ?? '', /private, loopback/);
  t.regex(urlProblem('https://[::1]/x', production) ?? '', /private, loopback/);
  t.regex(urlProblem('https://metadata.internal/x', production) ?? '', /public host name/);
  t.is(urlProblem('https://hooks.example.com/x', production), undefined);
  // A name that resolves to a private address is refused at connection time, on the address it resolves to.
  const target = await resolveTarget(new URL('https://localhost/x'), production);
  t.true('refused' in target && /127\.0\.0\.1|::1/.test(target.refused));
  const receiver = await startReceiver();
  try {
    const outcome = await postDelivery(new URL(receiver.url.replace('127.0.0.1', 'localhost')), '{}', {}, { timeoutMs: 2_000, maxResponseBytes: 1024, rule: production });
    t.false(outcome.ok);
    t.regex(outcome.error ?? '', /^refused: /);
    t.is(receiver.received.length, 0, 'nothing was sent');
    const allowed = await postDelivery(new URL(receiver.url), '{}', {}, { timeoutMs: 2_000, maxResponseBytes: 1024, rule: { production: false } });
    t.true(allowed.ok, 'outside production a local receiver is fine');
  } finally {
    await receiver.close();
  }
});
