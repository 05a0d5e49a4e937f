import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

// Build once, start many: `npm start` (scripts/ensure-built.mjs first) builds
// only when the build is missing or older than the sources, never deletes a
// build in use, and two starts at once build once. Tried in a copy of the
// checkout, so this suite's own build is never touched.

const ROOT = path.resolve(import.meta.dirname, '../..');
const COPIED = ['src', 'migrations', 'seeds', 'bench', 'test', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json'];

function ensureBuilt(cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/ensure-built.mjs'], { cwd, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const builds = (results: { stderr: string }[]) => results.filter((result) => result.stderr.includes('building')).length;

test('two starts at once build once; a fresh build starts at once; a changed source builds again over the old build', async (t) => {
  const copy = await mkdtemp(path.join(os.tmpdir(), 'octiv-build-once-'));
  try {
    for (const entry of COPIED) await cp(path.join(ROOT, entry), path.join(copy, entry), { recursive: true, filter: (source) => !source.endsWith('api-schema.d.ts') });
    await symlink(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));

    const first = await Promise.all([ensureBuilt(copy), ensureBuilt(copy)]);
    t.deepEqual(first.map((result) => result.code), [0, 0]);
    t.is(builds(first), 1, 'one of the two built; the other waited and found it fresh');
    t.true((await stat(path.join(copy, 'dist/src/main.js'))).isFile());
    t.true((await stat(path.join(copy, 'dist/console/assets/app.js'))).isFile());

    const again = await ensureBuilt(copy);
    t.is(again.code, 0);
    t.is(builds([again]), 0, 'a fresh build is started as it is');

    // A running process's files stay: the rebuild compiles over them, it deletes nothing.
    const marker = path.join(copy, 'dist/in-use.txt');
    await writeFile(marker, 'a running server has this build open');
    const later = new Date(Date.now() + 5_000);
    await utimes(path.join(copy, 'src/main.ts'), later, later);
    const changed = await ensureBuilt(copy);
    t.is(changed.code, 0);
    t.is(builds([changed]), 1, 'a source newer than the build: built again');
    t.true((await stat(marker)).isFile(), 'nothing of the old build was deleted');
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
});
