#!/usr/bin/env node
// Build once, start many: `npm start` runs this first. It builds only when
// the build is missing or older than the sources (a fresh clone's install
// builds through `prepare`), and never deletes the build a running process
// uses: it compiles over it. Concurrent starts take turns on a lock folder,
// and whoever comes second finds the build fresh and starts at once.
// `--stamp` only records that a build just finished (`npm run build` ends with it).
import { execSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const STAMP = path.join(root, 'dist', '.built');
const LOCK = path.join(root, '.build.lock');
const SOURCES = ['src', 'migrations', 'seeds', 'bench', 'test', 'package.json', 'package-lock.json', 'tsconfig.json'];

/** The newest modification time under `entry` (ms), generated files aside. */
function newest(entry) {
  const full = path.join(root, entry);
  let stat;
  try {
    stat = statSync(full);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return entry.endsWith('api-schema.d.ts') ? 0 : stat.mtimeMs;
  return Math.max(0, ...readdirSync(full).map((name) => newest(path.join(entry, name))));
}

const built = () => {
  try {
    return statSync(STAMP).mtimeMs;
  } catch {
    return 0;
  }
};
const fresh = () => built() >= Math.max(...SOURCES.map(newest));
const stamp = () => writeFileSync(STAMP, `${new Date().toISOString()}\n`);

function takeLock() {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      // A lock older than the longest build is left by a build that died: take it over.
      if (Date.now() - statSync(LOCK).mtimeMs > 5 * 60_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${LOCK} is held for over 5 minutes: remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
}

if (process.argv.includes('--stamp')) {
  stamp();
} else if (!fresh()) {
  takeLock();
  try {
    if (!fresh()) {
      process.stderr.write('The build is older than the sources: building (once; later starts use it)...\n');
      execSync('npx tsc -p . && npm run --silent build:console', { cwd: root, stdio: 'inherit' });
      stamp();
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
