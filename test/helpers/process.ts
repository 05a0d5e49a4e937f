import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  output: string[];
  exited: Promise<number | null>;
  /** Resolves with the first log line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/**
 * The node options the server runs with, as `npm start` gives them: one V8
 * worker thread (for the garbage collector's helpers). On two cores more
 * bought nothing measurable, and each thread's own memory arena and stack
 * cost about 6 MiB of peak RSS under load.
 */
export const SERVER_NODE_ARGS = ['--v8-pool-size=1'];

/**
 * Runs the built server (`node dist/src/main.js`) as its own process, as
 * `npm start` does. A port taken between choosing it and listening on it
 * (another test process chose it too) is chosen again.
 */
export async function spawnServer(env: Record<string, string>, options: { startupTimeoutMs?: number } = {}): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await spawnOnce(env, options.startupTimeoutMs);
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String((error as Error).message))) throw error;
    }
  }
}

// A first start on a new embedded database (PGlite's start, the migrations, the demo passwords' scrypt)
// takes about 7 s alone and has taken over 30 s while the embedded suite loads both cores.
const STARTUP_TIMEOUT_MS = 120_000;

async function spawnOnce(env: Record<string, string>, startupTimeoutMs = STARTUP_TIMEOUT_MS): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, 'dist/src/main.js'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: 'info',
      // Answers held to the OpenAPI document, as in every test server (refused in production).
      ...(env.NODE_ENV === 'production' ? {} : { OPENAPI_GUARD: 'on' }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      output.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) => {
    const seen = output.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${output.join('\n')}`)), timeoutMs);
      waiters.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void exited.then(() => reject(new Error(`server exited before ${pattern}; output:\n${output.join('\n')}`)));
    });
  };
  try {
    await waitFor(/"msg":"listening"/, startupTimeoutMs);
  } catch (error) {
    // A server that did not come up is stopped, so it cannot outlive the test (or its data folder).
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  return { child, url: `http://127.0.0.1:${port}`, port, output, exited, waitFor };
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
