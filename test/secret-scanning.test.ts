import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';

import test from 'ava';

import { generateKey } from '../src/api-keys/key-format.js';
import { hashToken } from '../src/shared/token-hash.js';
import { createKey, introspect } from './helpers/keys.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// A key pair made here stands in for GitHub's: its public half is configured,
// its private half signs the reports.
const partner = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const KEY_ID = 'test-partner-key-1';
const publicKeys = JSON.stringify({
  public_keys: [{ key_identifier: KEY_ID, key: partner.publicKey.export({ type: 'spki', format: 'pem' }), is_current: true }],
});

let server: TestServer;
let owner: string;
let otherOwner: string;

test.before(async () => {
  server = await startTestServer({ env: { SECRET_SCANNING_PUBLIC_KEYS: publicKeys } });
  owner = await signIn(server, 'owner@demo.test');
  otherOwner = await signIn(server, 'owner@other.test');
});
test.after.always(async () => {
  await server?.close();
});

const signature = (body: string, key: KeyObject = partner.privateKey) => sign('sha256', Buffer.from(body), { key, dsaEncoding: 'der' }).toString('base64');

async function report(body: string, headers: Record<string, string | undefined> = {}, target = server) {
  const response = await fetch(`${target.url}/api/v1/secret-scanning/reports`, {
    method: 'POST',
    headers: Object.fromEntries(
      Object.entries({ 'Content-Type': 'application/json', 'Github-Public-Key-Identifier': KEY_ID, 'Github-Public-Key-Signature': signature(body), ...headers }).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    ),
    body,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const finding = (token: string) => ({ token, type: 'octiv_api_key', url: `https://github.com/someone/landing/blob/main/.env#L${token.length}`, source: 'content' });
const postLead = (key: string) =>
  api(server, '/api/v1/leads', { body: { firstName: 'Leak', lastName: 'Ed', email: `leak.${randomUUID()}@example.com` }, headers: { Authorization: `Bearer ${key}` } });
const getKey = async (id: string, token = owner) => (await api(server, `/api/v1/api-keys/${id}`, { token })).body;

test('a signed report revokes a live key at once, answers one entry per finding, audits it, and tells the facility', async (t) => {
  const leaked = await createKey(server, owner, 'Landing Page (leaked)');
  t.is((await postLead(leaked.key)).status, 201);
  const unknown = generateKey();
  const body = JSON.stringify([finding(leaked.key), finding(unknown), finding('not-a-key-at-all')]);
  const response = await report(body);
  t.is(response.status, 200);
  t.deepEqual(response.body, [
    { token_hash: hashToken(leaked.key), token_type: 'octiv_api_key', label: 'true_positive' },
    { token_hash: hashToken(unknown), token_type: 'octiv_api_key', label: 'false_positive' },
    { token_hash: hashToken('not-a-key-at-all'), token_type: 'octiv_api_key', label: 'false_positive' },
  ]);

  const refused = await postLead(leaked.key);
  t.is(refused.status, 401, 'the answer of a deleted key');
  t.regex(refused.headers.get('www-authenticate') ?? '', /error="invalid_token", error_description="The API key is unknown, deleted or expired."/);
  t.deepEqual((await introspect(server, leaked.key)).body, { active: false });
  const listed = await getKey(leaked.id);
  t.like(listed, { status: 'revoked', revocation: { reason: 'leaked', by: 'secret-scanning', url: finding(leaked.key).url, source: 'content' } });
  t.truthy(listed.revocation.revokedAt);
  const events = (await api(server, `/api/v1/audit-events?keyId=${leaked.id}&action=api_key.revoked_leaked`, { token: owner })).body.items;
  t.is(events.length, 1);
  t.like(events[0], { actor: { type: 'secret-scanning' }, target: { type: 'api_key', id: leaked.id }, details: { reason: 'leaked', url: finding(leaked.key).url, source: 'content' } });
  t.false(JSON.stringify(events).includes(leaked.key));

  // Another facility sees nothing of it, and its keys are untouched.
  t.is((await api(server, `/api/v1/api-keys/${leaked.id}`, { token: otherOwner })).status, 404);
  t.false(((await api(server, '/api/v1/api-keys', { token: otherOwner })).body.items as { status: string }[]).some((item) => item.status === 'revoked'));
});

test('during a rotation both secrets are revoked, whichever was found', async (t) => {
  const first = await createKey(server, owner, 'Rotating When Leaked');
  const rotated = await api(server, `/api/v1/api-keys/${first.id}/rotate`, { token: owner, body: { graceSeconds: 3600 } });
  const response = await report(JSON.stringify([finding(first.key)]));
  t.is(response.body[0].label, 'true_positive');
  t.is((await postLead(first.key)).status, 401);
  t.is((await postLead(rotated.body.key as string)).status, 401);
  t.is((await getKey(first.id)).status, 'revoked');
});

test('a repeated report changes nothing more; a deleted or expired key is a false positive', async (t) => {
  const leaked = await createKey(server, owner, 'Reported Twice');
  const body = JSON.stringify([finding(leaked.key), finding(leaked.key)]);
  const first = await report(body);
  t.deepEqual(first.body.map((entry: { label: string }) => entry.label), ['true_positive', 'true_positive']);
  const again = await report(body);
  t.deepEqual(again.body, first.body, 'a replay answers the same');
  const events = (await api(server, `/api/v1/audit-events?keyId=${leaked.id}&action=api_key.revoked_leaked`, { token: owner })).body.items;
  t.is(events.length, 1, 'revoked once');

  const deleted = await createKey(server, owner, 'Deleted Before Report');
  await api(server, `/api/v1/api-keys/${deleted.id}`, { token: owner, method: 'DELETE' });
  t.is((await report(JSON.stringify([finding(deleted.key)]))).body[0].label, 'false_positive');
});

test('tampered body, unknown key id, another key\'s signature, no signature: 401 and nothing changes', async (t) => {
  const safe = await createKey(server, owner, 'Not Leaked');
  const body = JSON.stringify([finding(safe.key)]);
  const tampered = JSON.stringify([finding(safe.key), finding(generateKey())]);
  for (const [what, attempt] of [
    ['tampered body', () => report(tampered, { 'Github-Public-Key-Signature': signature(body) })],
    ['unknown key identifier', () => report(body, { 'Github-Public-Key-Identifier': 'some-other-key' })],
    ['signed by another key', () => report(body, { 'Github-Public-Key-Signature': signature(body, stranger.privateKey) })],
    ['no signature', () => report(body, { 'Github-Public-Key-Signature': undefined })],
    ['no key identifier', () => report(body, { 'Github-Public-Key-Identifier': undefined })],
    ['a signature that is not base64 DER', () => report(body, { 'Github-Public-Key-Signature': 'bm90IGEgc2lnbmF0dXJl' })],
  ] as const) {
    t.is((await attempt()).status, 401, what);
  }
  t.is((await postLead(safe.key)).status, 201);
  t.is((await getKey(safe.id)).status, 'active');
});

test('a signed body that is not an array of findings is 400; one over the limit is 413', async (t) => {
  for (const body of ['{"token":"x"}', '"just a string"', '[{"type":"octiv_api_key"}]', '[1, 2]']) {
    t.is((await report(body)).status, 400, body);
  }
  const notJson = '[{"token":';
  t.is((await report(notJson)).status, 400);
  const huge = JSON.stringify(Array.from({ length: 9000 }, () => finding(`x${'y'.repeat(300)}`)));
  t.is((await report(huge)).status, 413);
});

// Serial (so before the other tests of this file): it counts the statements the server sends while a report is handled.
test.serial('a report of 1,000 findings is handled in one go: each finding gets its own label, and only live keys cost a statement more', async (t) => {
  const handled = async (findings: ReturnType<typeof finding>[]) => {
    let statements = 0;
    // This report's statements: not the server's background work meanwhile (the webhook relay, last use of keys).
    const count = (query: { sql: string }) => void (/enqueued_attempt|last_used_at|api_key_ips/.test(query.sql) ? undefined : (statements += 1));
    server.db.on('query', count);
    try {
      const response = await report(JSON.stringify(findings));
      t.is(response.status, 200);
      return { body: response.body as unknown[], statements };
    } finally {
      server.db.off('query', count);
    }
  };
  const liveKeys = (prefix: string) => Promise.all(Array.from({ length: 5 }, (_, index) => createKey(server, owner, `${prefix} ${index}`)));
  const labels = (findings: ReturnType<typeof finding>[], live: Set<string>) =>
    findings.map((item) => ({ token_hash: hashToken(item.token), token_type: 'octiv_api_key', label: live.has(item.token) ? 'true_positive' : 'false_positive' }));

  // Five live keys alone, then five others among 995 findings that are no live key of ours.
  const few = (await liveKeys('Few Leaked')).map((key) => finding(key.key));
  const small = await handled(few);
  t.deepEqual(small.body, labels(few, new Set(few.map((item) => item.token))));

  const leaked = await liveKeys('Batch Leak');
  const findings = Array.from({ length: 995 }, () => finding(generateKey()));
  for (const [index, key] of leaked.entries()) findings.splice(index * 200, 0, finding(key.key));
  const large = await handled(findings);
  t.deepEqual(large.body, labels(findings, new Set(leaked.map((key) => key.key))), 'one entry per finding, in order, each with its own label');
  t.true(small.statements > 0, 'the statements are counted');
  t.is(large.statements, small.statements, 'the 995 other findings cost no statement: one look-up serves the whole report');
  for (const key of leaked) t.is((await postLead(key.key)).status, 401);
});

test('without configured public keys the endpoint does not exist (404)', async (t) => {
  const plain = await startTestServer();
  try {
    const body = JSON.stringify([finding(generateKey())]);
    t.is((await report(body, {}, plain)).status, 404);
  } finally {
    await plain.close();
  }
});
