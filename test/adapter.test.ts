import { randomBytes } from 'node:crypto';

import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';

import { inTransaction } from '../src/db/transaction.js';
import { createKnexAdapter, deleteExpiredPayloads } from '../src/oauth/adapter.js';
import { hashToken } from '../src/shared/token-hash.js';
import type { Database } from '../src/db/database.js';
import { createTestDatabase, openMigrated, type TestDatabase, type TestDatabaseKind } from './helpers/database.js';
import { eventually } from './helpers/eventually.js';

const SEAL_KEY = randomBytes(32);

// The adapter contract runs on both database kinds in every run, whatever
// TEST_DATABASE says, since the server supports both.
for (const kind of ['postgres', 'embedded'] as TestDatabaseKind[]) {
  let database: TestDatabase;
  let opened: Database;
  let db: Knex;
  let Adapter: ReturnType<typeof createKnexAdapter>;

  test.before(async () => {
    database = await createTestDatabase(kind);
    opened = await openMigrated(database);
    db = opened.knex;
    Adapter = createKnexAdapter(db, { sealKeys: [SEAL_KEY] });
  });
  test.after.always(async () => {
    await opened?.close();
    await database?.drop();
  });

  const t = (title: string, fn: (t: ExecutionContext) => Promise<void>) => test.serial(`[${kind}] ${title}`, fn);

  t('upsert then find returns the payload, with jti put back for tokens', async (t) => {
    const adapter = new Adapter('AccessToken');
    await adapter.upsert('token-1', { jti: 'token-1', kind: 'AccessToken', accountId: 'a', extra: { x: 1 } }, 60);
    t.deepEqual(await adapter.find('token-1'), { jti: 'token-1', kind: 'AccessToken', accountId: 'a', extra: { x: 1 } });
    t.is(await adapter.find('token-2'), undefined);
  });

  t('token-like ids are stored only as SHA-256 hashes, and jti is not stored', async (t) => {
    const adapter = new Adapter('RefreshToken');
    await adapter.upsert('secret-refresh-value', { jti: 'secret-refresh-value', kind: 'RefreshToken' }, 60);
    const rows = await db('oidc_payloads').where({ model: 'RefreshToken' });
    t.is(rows.length, 1);
    t.is(rows[0].id, hashToken('secret-refresh-value'));
    t.false(JSON.stringify(rows).includes('secret-refresh-value'));
  });

  t('sessions are stored by the hash of their id (the cookie value), and found by id or by uid', async (t) => {
    const adapter = new Adapter('Session');
    await adapter.upsert('session-id-cookie-value', { jti: 'session-id-cookie-value', uid: 'session-uid', kind: 'Session', accountId: 'a' }, 60);
    t.like(await adapter.find('session-id-cookie-value'), { jti: 'session-id-cookie-value', uid: 'session-uid', accountId: 'a' });
    // By uid the provider only reads a session (never saves it): it comes back without its id.
    const byUid = await adapter.findByUid('session-uid');
    t.like(byUid, { uid: 'session-uid', accountId: 'a' });
    t.is(byUid?.jti, undefined);
    t.is(await adapter.findByUid('other'), undefined);
    t.false(JSON.stringify(await db('oidc_payloads').where({ model: 'Session' })).includes('session-id-cookie-value'));
  });

  t('an interaction keeps no session id nor its own uid in clear: the session\'s id dropped, returnTo sealed and given back', async (t) => {
    const adapter = new Adapter('Interaction');
    const returnTo = 'http://localhost/oauth/auth/interaction-uid-1';
    await adapter.upsert('interaction-uid-1', { jti: 'interaction-uid-1', kind: 'Interaction', returnTo, session: { accountId: 'a', uid: 'session-uid', cookie: 'session-id-1' } }, 60);
    const stored = JSON.stringify(await db('oidc_payloads').where({ model: 'Interaction' }));
    t.false(stored.includes('interaction-uid-1'));
    t.false(stored.includes('session-id-1'));
    const found = await adapter.find('interaction-uid-1');
    t.like(found, { jti: 'interaction-uid-1', returnTo, session: { accountId: 'a', uid: 'session-uid' } });
    t.false('cookie' in (found?.session as object), 'the provider never reads the session id back');
    // Opened by any of the keys (a rotation lists the new one first); another key opens nothing, and the record is as good as gone.
    const rotated = createKnexAdapter(db, { sealKeys: [randomBytes(32), SEAL_KEY] });
    t.like(await new rotated('Interaction').find('interaction-uid-1'), { returnTo });
    const other = createKnexAdapter(db, { sealKeys: [randomBytes(32)] });
    t.is(await new other('Interaction').find('interaction-uid-1'), undefined);
  });

  t('a session\'s state (the sign-out form\'s secret, where it returns) is sealed and given back', async (t) => {
    const adapter = new Adapter('Session');
    const state = { secret: 'xsrf-secret-value', postLogoutRedirectUri: 'http://localhost/oauth/auth/interaction-uid-2' };
    await adapter.upsert('session-id-2', { jti: 'session-id-2', uid: 'session-uid-2', kind: 'Session', accountId: 'a', state }, 60);
    const stored = JSON.stringify(await db('oidc_payloads').where({ model: 'Session' }));
    t.false(stored.includes('xsrf-secret-value'));
    t.false(stored.includes('interaction-uid-2'));
    t.deepEqual((await adapter.find('session-id-2'))?.state, state);
    // Written in clear before sealing existed: read as it is.
    await db('oidc_payloads').where({ model: 'Session', id: hashToken('session-id-2') }).update({ payload: JSON.stringify({ kind: 'Session', uid: 'session-uid-2', state: { secret: 'old' } }) });
    t.deepEqual((await adapter.find('session-id-2'))?.state, { secret: 'old' });
  });

  t('grants keep their id (it is no credential: tokens name it)', async (t) => {
    const adapter = new Adapter('Grant');
    await adapter.upsert('grant-plain-id', { jti: 'grant-plain-id', kind: 'Grant', accountId: 'a' }, 60);
    t.truthy(await db('oidc_payloads').where({ model: 'Grant', id: 'grant-plain-id' }).first());
  });

  t('upsert replaces an existing record', async (t) => {
    const adapter = new Adapter('Grant');
    await adapter.upsert('grant-1', { jti: 'grant-1', kind: 'Grant', openid: { scope: 'openid' } }, 60);
    await adapter.upsert('grant-1', { jti: 'grant-1', kind: 'Grant', openid: { scope: 'openid profile' } }, 60);
    t.deepEqual((await adapter.find('grant-1'))?.openid, { scope: 'openid profile' });
    t.is(await db('oidc_payloads').where({ model: 'Grant', id: 'grant-1' }).count('* as n').first().then((row) => Number(row?.n)), 1);
  });

  t('consume marks a record consumed without removing it', async (t) => {
    const adapter = new Adapter('AuthorizationCode');
    await adapter.upsert('code-1', { jti: 'code-1', kind: 'AuthorizationCode' }, 60);
    t.is((await adapter.find('code-1'))?.consumed, undefined);
    await adapter.consume('code-1');
    const found = await adapter.find('code-1');
    t.truthy(found?.consumed);
    t.true(typeof found?.consumed === 'number' && Math.abs(found.consumed - Date.now() / 1000) < 60);
  });

  t('destroy removes a record', async (t) => {
    const adapter = new Adapter('AccessToken');
    await adapter.upsert('gone', { jti: 'gone', kind: 'AccessToken' }, 60);
    await adapter.destroy('gone');
    t.is(await adapter.find('gone'), undefined);
  });

  t('revokeByGrantId removes that model\'s records of the grant only', async (t) => {
    const tokens = new Adapter('AccessToken');
    const codes = new Adapter('AuthorizationCode');
    await tokens.upsert('t-g1', { jti: 't-g1', grantId: 'g1' }, 60);
    await tokens.upsert('t-g2', { jti: 't-g2', grantId: 'g2' }, 60);
    await codes.upsert('c-g1', { jti: 'c-g1', grantId: 'g1' }, 60);
    await tokens.revokeByGrantId('g1');
    t.is(await tokens.find('t-g1'), undefined);
    t.truthy(await tokens.find('t-g2'));
    t.truthy(await codes.find('c-g1'));
    await codes.revokeByGrantId('g1');
    t.is(await codes.find('c-g1'), undefined);
  });

  t('findByUserCode finds device codes', async (t) => {
    const adapter = new Adapter('DeviceCode');
    await adapter.upsert('device-1', { jti: 'device-1', userCode: 'ABCD-EFGH' }, 60);
    t.like(await adapter.findByUserCode('ABCD-EFGH'), { jti: 'device-1' });
    t.is(await adapter.findByUserCode('ZZZZ-ZZZZ'), undefined);
  });

  t('NUL in what a caller sent: stored as U+FFFD, and a lookup with one finds nothing (never a database error)', async (t) => {
    const interactions = new Adapter('Interaction');
    await interactions.upsert('i-1', { jti: 'i-1', uid: 'u-1', params: { state: 'a\u0000b' } }, 60);
    t.like(await interactions.find('i-1'), { params: { state: 'a\uFFFDb' } });
    t.is(await new Adapter('Client').find('octiv-app\u0000'), undefined);
    t.is(await interactions.findByUid('u-1\u0000'), undefined);
    t.is(await new Adapter('DeviceCode').findByUserCode('ABCD\u0000'), undefined);
    t.is(await new Adapter('AccessToken').find('a\u0000b'), undefined);
  });

  t('expired records are not found, and housekeeping deletes them', async (t) => {
    const adapter = new Adapter('AccessToken');
    await adapter.upsert('short', { jti: 'short' }, 1);
    await adapter.upsert('long', { jti: 'long' }, 3600);
    t.truthy(await adapter.find('short'));
    // Expiry is the database's clock against the database's clock: wait until its now() is past the row's end.
    await eventually(
      async () => (await db('oidc_payloads').where({ id: hashToken('short') }).first(db.raw('now() > expires_at as past')))?.past === true,
      { what: 'the database\'s clock to pass the record\'s expiry' },
    );
    t.is(await adapter.find('short'), undefined);
    t.truthy(await adapter.find('long'));
    // Housekeeping keeps a minute of grace; age the row past it.
    await db('oidc_payloads').where({ id: hashToken('short') }).update({ expires_at: db.raw(`now() - interval '2 minutes'`) });
    t.true((await deleteExpiredPayloads(db)) >= 1);
    t.is(await db('oidc_payloads').where({ id: hashToken('short') }).first(), undefined);
    t.truthy(await adapter.find('long'));
  });

  t('records without expiry never expire', async (t) => {
    const adapter = new Adapter('Client');
    await adapter.upsert('client-1', { client_id: 'client-1' });
    t.like(await adapter.find('client-1'), { client_id: 'client-1' });
  });

  t('writes inside inTransaction roll back with the transaction', async (t) => {
    const adapter = new Adapter('AccessToken');
    await t.throwsAsync(
      inTransaction(db, async () => {
        await adapter.upsert('rolled-back', { jti: 'rolled-back' }, 60);
        t.truthy(await adapter.find('rolled-back'), 'visible inside the transaction');
        throw new Error('abort');
      }),
      { message: 'abort' },
    );
    t.is(await adapter.find('rolled-back'), undefined);
  });
}
