import { spawn } from 'node:child_process';
import os from 'node:os';

import { POSTGRES_ADMIN_URL } from './database.js';
import { startPgBouncer, targetOf } from './pgbouncer.js';

/**
 * `node dist/test/helpers/with-pgbouncer.js <command...>`: runs a command
 * (in CI, `npm test`) with a PgBouncer in transaction mode in front of the
 * test Postgres (TEST_POSTGRES_URL, else 127.0.0.1:5432) and
 * TEST_POSTGRES_POOLER_URL naming it, so every test server reaches its
 * database through the pooler. 5 server connections per database: fewer
 * than the server's pool, so a transaction may land on a connection another
 * client used last. Stops the pooler when the command ends, and exits with
 * the command's status.
 */
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: with-pgbouncer <command> [args...]');
  process.exit(2);
}
const pooler = await startPgBouncer({ target: targetOf(POSTGRES_ADMIN_URL), mode: 'transaction', poolSize: 5 });
const poolerUrl = pooler.through(POSTGRES_ADMIN_URL);
console.log(`PgBouncer in transaction mode on ${poolerUrl} (log: ${pooler.dir}/pgbouncer.log)`);

const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, TEST_POSTGRES_POOLER_URL: poolerUrl } });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const status = await new Promise<number>((resolve) => {
  child.once('error', (error) => {
    console.error(`could not run ${command}: ${error.message}`);
    resolve(127);
  });
  child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
});
await pooler.close();
process.exit(status);
