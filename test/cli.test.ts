import { spawn } from 'node:child_process';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import path from 'node:path';

import test from 'ava';

import { migrateToLatest } from '../src/db/migrate.js';
import { createDatabase } from '../src/db/database.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { api, signIn } from './helpers/oauth.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// The operator's command line, each command against a real database, in
// production mode and without the demo seed.

const ROOT = path.resolve(import.meta.dirname, '../..');
let database: TestDatabase;
let env: Record<string, string>;

test.before(async () => {
  database = await createTestDatabase();
  const opened = await createDatabase(database.config);
  await migrateToLatest(opened.knex);
  await opened.close();
  env = {
    PATH: process.env.PATH ?? '',
    ...database.env,
    ...(database.kind === 'postgres'
      ? { NODE_ENV: 'production', PUBLIC_URL: 'https://auth.gym.example', LEADS_API_CLIENT_SECRET: 'c'.repeat(40), SECRETS_KEY: 's'.repeat(40) }
      : {}),
  };
});
test.after.always(async () => {
  await database?.drop();
});

/** Runs `node dist/src/cli.js ...args`; resolves to its exit code and output. */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['dist/src/cli.js', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// Serial: the embedded database is for one process at a time.
test.serial('facility create, staff add, keys list, keys revoke, audit export, purge: a whole operator session', async (t) => {
  const created = await cli('facility', 'create', '--name', 'Harbour Gym', '--owner-email', 'hana@harbour.example', '--owner-name', 'Hana Harbour', '--json');
  t.is(created.code, 0, created.stderr);
  const facility = JSON.parse(created.stdout) as { facility: { id: string }; owner: { id: string; role: string }; initialPassword: string };
  t.is(facility.owner.role, 'owner');
  t.regex(facility.initialPassword, /^[A-Za-z0-9_-]{24}$/);

  const plain = await cli('staff', 'add', '--facility', facility.facility.id, '--email', 'ada@harbour.example', '--name', 'Ada Admin', '--role', 'admin');
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stdout, /Staff member ada@harbour\.example \(admin\) added: [0-9a-f-]{36}\nInitial password \(shown this once\): \S{24}/);
  const again = await cli('staff', 'add', '--facility', facility.facility.id, '--email', 'ADA@harbour.example', '--name', 'Ada Twice', '--role', 'admin');
  t.is(again.code, 1);
  t.regex(again.stderr, /already exists/);

  // The Owner signs in with the initial password (on a server over the same database) and makes a key.
  const server = await startTestServer({ database, seed: false });
  let keyId: string;
  let key: string;
  try {
    const owner = await signIn(server, 'hana@harbour.example', facility.initialPassword);
    const made = await api(server, '/api/v1/api-keys', { token: owner, body: { name: 'Harbour CRM', scopes: ['leads:create'] } });
    t.is(made.status, 201);
    ({ id: keyId, key } = made.body as { id: string; key: string });
  } finally {
    await server.close();
  }
  t.false((await cli('staff', 'add', '--facility', facility.facility.id, '--email', 'x@harbour.example', '--name', 'X', '--role', 'janitor')).code === 0);

  const listed = await cli('keys', 'list', '--facility', facility.facility.id, '--json');
  t.is(listed.code, 0, listed.stderr);
  const items = (JSON.parse(listed.stdout) as { items: { id: string; name: string; status: string }[] }).items;
  t.like(items[0], { id: keyId, name: 'Harbour CRM', status: 'active' });
  t.false(listed.stdout.includes(key), 'never the key');
  t.regex((await cli("keys", "list", "--facility", facility.facility.id)).stdout, new RegExp(`${keyId}  active +Harbour CRM`));

  const revoked = await cli('keys', 'revoke', '--id', keyId, '--reason', 'vendor contract ended');
  t.is(revoked.code, 0, revoked.stderr);
  t.is((await cli('keys', 'revoke', '--id', keyId, '--reason', 'twice')).code, 1, 'already revoked');
  const afterRevoke = JSON.parse((await cli('keys', 'list', '--facility', facility.facility.id, '--json')).stdout) as { items: { status: string }[] };
  t.is(afterRevoke.items[0]?.status, 'revoked');

  const exported = await cli('audit', 'export', '--facility', facility.facility.id);
  t.is(exported.code, 0, exported.stderr);
  const lines = exported.stdout.trim().split('\n');
  t.regex(lines[0]!, /^id,occurredAt,action,/);
  // Every change the operator made is in the facility's history, by the operator (account@host).
  const operator = String.raw`operator,,[^,@]+@${os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
  t.regex(exported.stdout, new RegExp(String.raw`api_key\.revoked,${operator}`));
  t.regex(exported.stdout, new RegExp(String.raw`facility\.created,${operator},facility,${facility.facility.id},Harbour Gym`));
  t.regex(exported.stdout, new RegExp(String.raw`staff\.added,${operator},staff,${facility.owner.id},Hana Harbour`));
  t.regex(exported.stdout, new RegExp(String.raw`staff\.added,${operator},staff,[0-9a-f-]{36},Ada Admin`));
  t.regex(exported.stdout, /vendor contract ended/);
  t.regex(exported.stdout, /api_key\.created,staff/);
  t.regex(exported.stderr, /\d+ events\./);
  const jsonLines = (await cli('audit', 'export', '--facility', facility.facility.id, '--json', '--since', new Date(Date.now() - 3600_000).toISOString())).stdout.trim().split('\n');
  t.true(jsonLines.every((line) => typeof (JSON.parse(line) as { action: string }).action === 'string'));

  const purged = await cli('purge', '--json');
  t.is(purged.code, 0, purged.stderr);
  t.true(Object.keys((JSON.parse(purged.stdout) as { removed: Record<string, number> }).removed).some((task) => task.startsWith('audit events older than 400 days')));
});

test.serial('errors and help: unknown commands, missing options, bad values, unknown ids', async (t) => {
  const help = await cli('--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /facility create --name NAME --owner-email EMAIL --owner-name NAME/);
  const commandHelp = await cli('keys', 'revoke', '--help');
  t.is(commandHelp.code, 0);
  t.regex(commandHelp.stdout, /audited as the operator/);
  const unknown = await cli('keys', 'explode');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /Unknown command: keys explode/);
  const missing = await cli('facility', 'create', '--name', 'No Owner');
  t.is(missing.code, 2);
  t.regex(missing.stderr, /Missing --owner-email, --owner-name/);
  const badOption = await cli('purge', '--everything');
  t.is(badOption.code, 2);
  const noFacility = await cli('keys', 'list', '--facility', randomUUID());
  t.is(noFacility.code, 1);
  t.regex(noFacility.stderr, /No facility with the id/);
  const badSince = await cli('audit', 'export', '--facility', randomUUID(), '--since', 'last tuesday');
  t.is(badSince.code, 2);
  const roles = await cli('db', 'roles', '--database', 'gym', '--owner', 'gym_owner', '--server', 'gym_app');
  t.is(roles.code, 0, roles.stderr);
  t.regex(roles.stdout, /create role "gym_owner" login password '[A-Za-z0-9_-]{32}';/);
  t.regex(roles.stdout, /create role "gym_app" login password '[A-Za-z0-9_-]{32}';/);
  t.regex(roles.stdout, /alter schema public owner to "gym_owner";/);
  t.is((await cli('db', 'roles', '--owner', 'bad"name')).code, 2, 'a name that is not a plain SQL name');
  if (database.kind === 'postgres') {
    const seed = await cli('seed');
    t.is(seed.code, 1);
    t.regex(seed.stderr, /Refusing to load demo data with NODE_ENV=production/);
  }
});
