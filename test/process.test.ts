import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { loadConfig } from '../src/config.js';
import { createTestDatabase } from './helpers/database.js';
import { eventually } from './helpers/eventually.js';
import { signIn } from './helpers/oauth.js';
import { spawnServer } from './helpers/process.js';
import type { TestServer } from './helpers/server.js';

function rawRequest(port: number): { socket: net.Socket; received: () => string; response: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  const response = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk) => {
      data += chunk.toString();
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
  return { socket, received: () => data, response };
}

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

test('SIGTERM drains: an in-flight request finishes, new connections are refused, then the process exits 0', async (t) => {
  const database = await createTestDatabase();
  const server = await spawnServer({ ...database.env, SHUTDOWN_TIMEOUT_MS: '10000' });
  try {
    // A slow client: headers and half the body now, the rest after SIGTERM. It asks to be told
    // when the server has taken the request (100 Continue), so SIGTERM provably finds it in flight.
    const body = 'grant_type=authorization_code&code=abc&client_id=octiv-app&redirect_uri=x&code_verifier=y';
    const { socket, received, response } = rawRequest(server.port);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await eventually(() => received().startsWith(CONTINUE), { what: 'the server\'s 100 Continue' });
    socket.write(body.slice(0, 10));
    server.child.kill('SIGTERM');
    await server.waitFor(/"msg":"draining/);

    // No new connections while draining.
    const refused = await new Promise<boolean>((resolve) => {
      const probe = net.connect(server.port, '127.0.0.1');
      probe.once('connect', () => {
        probe.destroy();
        resolve(false);
      });
      probe.once('error', () => resolve(true));
    });
    t.true(refused, 'a new connection is refused while draining');

    socket.write(body.slice(10));
    const answer = (await response).slice(CONTINUE.length);
    t.regex(answer, /^HTTP\/1\.1 400 /, `the in-flight request got its real answer; log:\n${server.output.join('\n')}`);
    t.regex(answer, /invalid_grant/);
    t.is(await server.exited, 0);
    t.true(server.output.some((line) => line.includes('"msg":"stopped"')));
  } finally {
    server.child.kill('SIGKILL');
    await database.drop();
  }
});

test('npm start on a fresh embedded database: migrates, loads the demo data, serves sign-in', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'octiv-fresh-'));
  const server = await spawnServer({ DATA_DIR: dataDir });
  try {
    t.true(server.output.some((line) => line.includes('demo data loaded')));
    // One line for a person: where the console is, and how to sign in.
    await server.waitFor(/^Octiv is ready: open http:\/\/127\.0\.0\.1:\d+\/console\/ and sign in as owner@demo\.test with the password demo-password\.$/);
    const config = loadConfig({ PUBLIC_URL: server.url, DATA_DIR: dataDir });
    const token = await signIn({ url: server.url, config } as TestServer, 'owner@demo.test');
    const me = await fetch(`${server.url}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
    t.is(me.status, 200);
    t.like(await me.json(), { email: 'owner@demo.test', role: 'owner' });

    // A second process on the same embedded database is refused, clearly.
    const second = spawnSync(process.execPath, ['dist/src/main.js'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PORT: '0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.is(second.status, 1);
    t.regex(second.stdout + second.stderr, /embedded database in .* is in use by process \d+/);
  } finally {
    server.child.kill('SIGTERM');
    t.is(await server.exited, 0);
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a bad environment stops the start with a message naming the variable', async (t) => {
  const result = spawnSync(process.execPath, ['dist/src/main.js'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { PATH: process.env.PATH ?? '', PORT: 'not-a-port' },
    encoding: 'utf8',
  });
  t.is(result.status, 1);
  t.regex(result.stderr, /Invalid configuration:\n\s+- PORT: /);
});

test('production refuses the demo seed and development defaults', async (t) => {
  const cwd = path.resolve(import.meta.dirname, '../..');
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
    PUBLIC_URL: 'https://auth.example.com',
    LEADS_API_CLIENT_SECRET: 'p'.repeat(40),
    SECRETS_KEY: 'k'.repeat(40),
  };
  const seed = spawnSync(process.execPath, ['dist/src/cli.js', 'seed'], { cwd, env, encoding: 'utf8' });
  t.is(seed.status, 1);
  t.regex(seed.stderr, /Refusing to load demo data with NODE_ENV=production/);
  const start = spawnSync(process.execPath, ['dist/src/main.js'], { cwd, env: { ...env, LEADS_API_CLIENT_SECRET: '' }, encoding: 'utf8' });
  t.is(start.status, 1);
  t.regex(start.stderr, /LEADS_API_CLIENT_SECRET: is required in production/);
});
