import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';

import test from 'ava';

import { startTestServer } from './helpers/server.js';

test('the curl walk-through of docs/integrators.md (docs/walkthrough.sh) works as written', async (t) => {
  const server = await startTestServer();
  try {
    // Async: the server answering the script runs in this process.
    const result = await promisify(execFile)('bash', [path.resolve(import.meta.dirname, '../../docs/walkthrough.sh')], {
      env: { PATH: process.env.PATH ?? '', BASE: server.url },
      encoding: 'utf8',
    });
    t.regex(result.stdout, /signed in as owner@demo\.test/);
    t.regex(result.stdout, /created key [0-9a-f-]{36} \(oct_pat_\w{4}\.\.\., shown once\)/);
    t.regex(result.stdout, /"name":"Landing Page Connector","scopes":\["leads:create"\]/);
    t.regex(result.stdout, /delete: 204/);
    t.deepEqual(await server.db('api_keys').whereNull('deleted_at').pluck('name'), []);
  } finally {
    await server.close();
  }
});
