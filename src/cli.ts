import { parseArgs } from 'node:util';

import { seedDemo } from '../seeds/demo.js';
import { ConfigError, loadConfig } from './config.js';
import { createDatabase, type Database } from './db/database.js';
import { migrateDownAll, prepareDatabase } from './db/migrate.js';
import { rolesSql } from './db/roles.js';
import { createLogger } from './logger.js';
import { createOperatorCommands, OperatorError } from './operator/commands.js';
import { createServices } from './services.js';

/** Exit codes: 0 done, 1 the command failed (the message says why), 2 the command line is wrong (usage printed). */
const USAGE_ERROR = 2;

interface Command {
  usage: string;
  about: string;
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  required?: string[];
  run(args: Record<string, string | boolean | undefined>, out: Output): Promise<void>;
}

interface Output {
  json: boolean;
  /** A line for a person, or an object for a script (--json). */
  say(text: string, data: unknown): void;
}

class UsageError extends Error {}

type Operator = ReturnType<typeof createOperatorCommands>;
let operator: () => Promise<Operator>;

const COMMANDS: Record<string, Command> = {
  migrate: {
    usage: 'migrate',
    about: 'Apply pending database migrations (the server also does it at start).',
    options: {},
    async run(_args, out) {
      await withDatabase(async () => {
        const applied = await prepareDatabase(loadConfig().database, database!);
        out.say(applied.length ? `Applied: ${applied.join(', ')}` : 'Already up to date.', { applied });
      });
    },
  },
  'db roles': {
    usage: 'db roles [--database NAME] [--owner ROLE] [--server ROLE]',
    about:
      'Print the SQL that creates two roles: one that owns the schema and migrates it (DATABASE_MIGRATION_URL), one the server runs as with only what it needs (DATABASE_URL). New passwords, shown once. Connects to nothing.',
    options: { database: { type: 'string' }, owner: { type: 'string' }, server: { type: 'string' } },
    async run(args, out) {
      const url = process.env.DATABASE_URL ? URL.parse(process.env.DATABASE_URL) : null;
      const names = {
        database: typeof args.database === 'string' ? args.database : url?.pathname.slice(1) || 'octiv',
        owner: typeof args.owner === 'string' ? args.owner : 'octiv_owner',
        server: typeof args.server === 'string' ? args.server : 'octiv_app',
      };
      for (const [option, name] of Object.entries(names)) {
        if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(name)) throw new UsageError(`--${option} must be a plain SQL name (letters, digits, _ and $; at most 63)`);
      }
      const sql = rolesSql(names);
      out.say(sql, { ...names, sql });
    },
  },
  rollback: {
    usage: 'rollback',
    about: 'Roll back every migration (development only: it drops every table).',
    options: {},
    async run(_args, out) {
      if (loadConfig().production) throw new OperatorError('Refusing to roll back with NODE_ENV=production.');
      await withDatabase(async (db) => {
        await migrateDownAll(db);
        out.say('Rolled back every migration.', { rolledBack: true });
      });
    },
  },
  seed: {
    usage: 'seed',
    about: 'Load the demo data (refused with NODE_ENV=production).',
    options: {},
    async run(_args, out) {
      const config = loadConfig();
      if (config.production) throw new OperatorError('Refusing to load demo data with NODE_ENV=production.');
      await withDatabase(async (db) => {
        await prepareDatabase(config.database, database!);
        await seedDemo(db, { password: config.demoPassword });
        out.say('Demo data loaded (existing rows left as they were).', { seeded: true });
      });
    },
  },
  'facility create': {
    usage: 'facility create --name NAME --owner-email EMAIL --owner-name NAME',
    about: 'Create a facility and its Owner. Prints the Owner\'s initial password once (it is stored only as a hash, never logged).',
    options: { name: { type: 'string' }, 'owner-email': { type: 'string' }, 'owner-name': { type: 'string' } },
    required: ['name', 'owner-email', 'owner-name'],
    async run(args, out) {
      const created = await (await operator()).createFacility({ name: String(args.name), ownerEmail: String(args['owner-email']), ownerName: String(args['owner-name']) });
      out.say(
        `Facility "${created.facility.name}" created: ${created.facility.id}\nOwner ${created.owner.email}: ${created.owner.id}\nInitial password (shown this once; give it to the Owner over a safe channel): ${created.password}`,
        { facility: created.facility, owner: created.owner, initialPassword: created.password },
      );
    },
  },
  'staff add': {
    usage: 'staff add --facility ID --email EMAIL --name NAME --role owner|admin|location_admin|trainer',
    about: 'Add a staff member to a facility. Prints their initial password once.',
    options: { facility: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' } },
    required: ['facility', 'email', 'name', 'role'],
    async run(args, out) {
      const added = await (await operator()).addStaff({ facilityId: String(args.facility), email: String(args.email), name: String(args.name), role: String(args.role) });
      out.say(`Staff member ${added.staff.email} (${added.staff.role}) added: ${added.staff.id}\nInitial password (shown this once): ${added.password}`, {
        staff: added.staff,
        initialPassword: added.password,
      });
    },
  },
  'keys list': {
    usage: 'keys list --facility ID',
    about: 'A facility\'s API keys (never the keys themselves): id, name, status, expiry, last use.',
    options: { facility: { type: 'string' } },
    required: ['facility'],
    async run(args, out) {
      const keys = await (await operator()).listKeys(String(args.facility));
      const lines = keys.map(
        (key) => `${key.id}  ${key.status.padEnd(8)}  ${key.name}  (created ${key.createdAt.toISOString()} by ${key.createdBy.name}; expires ${key.expiresAt?.toISOString() ?? 'never'}; last used ${key.lastUsedAt?.toISOString() ?? 'never'})`,
      );
      out.say(lines.length ? lines.join('\n') : 'No keys.', { items: keys });
    },
  },
  'keys revoke': {
    usage: 'keys revoke --id ID --reason TEXT',
    about: 'Revoke a key of any facility at once (both secrets), audited as the operator (account@host) with the reason.',
    options: { id: { type: 'string' }, reason: { type: 'string' } },
    required: ['id', 'reason'],
    async run(args, out) {
      await (await operator()).revokeKey(String(args.id), String(args.reason));
      out.say(`Key ${String(args.id)} revoked.`, { revoked: args.id });
    },
  },
  'audit export': {
    usage: 'audit export --facility ID [--since 2026-01-01T00:00:00Z]',
    about: 'A facility\'s audit events, newest first: CSV on standard output (or JSON lines with --json).',
    options: { facility: { type: 'string' }, since: { type: 'string' } },
    required: ['facility'],
    async run(args, out) {
      let since: Date | undefined;
      if (typeof args.since === 'string') {
        since = new Date(args.since);
        if (Number.isNaN(since.getTime())) throw new UsageError('--since must be a date and time, e.g. 2026-01-01T00:00:00Z');
      }
      const commands = await operator();
      let header = true;
      const count = await commands.exportAudit(String(args.facility), since, (events) => {
        if (out.json) for (const event of events) process.stdout.write(`${JSON.stringify(event)}\n`);
        else {
          const csv = commands.csv(events);
          process.stdout.write(header ? csv : csv.slice(csv.indexOf('\n') + 1));
          header = false;
        }
      });
      if (header && !out.json) process.stdout.write(commands.csv([]));
      process.stderr.write(`${count} events.\n`);
    },
  },
  purge: {
    usage: 'purge',
    about: 'Delete what has expired (tokens, sessions, idempotency records past 25 hours, rate-limit counters) and audit events past AUDIT_RETENTION_DAYS (default 400), in bounded batches.',
    options: {},
    async run(_args, out) {
      const removed = await (await operator()).purge();
      out.say(
        Object.entries(removed)
          .map(([what, count]) => `${what}: ${count} removed`)
          .join('\n'),
        { removed },
      );
    },
  },
};

let database: Database | undefined;
async function withDatabase<T>(work: (db: Database['knex']) => Promise<T>): Promise<T> {
  database ??= await createDatabase(loadConfig().database);
  return work(database.knex);
}
operator = async () =>
  withDatabase(async () => {
    const config = loadConfig();
    // The command line's own log lines are warnings only: its answers go to standard output.
    const logger = createLogger('warn', process.stderr);
    return createOperatorCommands(await createServices(config, database!, logger, { role: 'operator' }));
  });

function usage(): string {
  return [
    'Usage: npm run cli -- <command> [options]   (or node dist/src/cli.js <command> [options])',
    '',
    ...Object.values(COMMANDS).map((command) => `  ${command.usage}\n      ${command.about}`),
    '',
    'Every command takes --json (output for scripts) and --help. The database is the one DATABASE_URL names (else the embedded one in DATA_DIR).',
    'Exit codes: 0 done, 1 the command failed, 2 the command line is wrong.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const name = [argv.slice(0, 2).join(' '), argv[0] ?? ''].find((candidate) => candidate in COMMANDS);
  if (!name) {
    const asked = argv.length === 0 || argv[0] === '--help' || argv[0] === 'help';
    (asked ? process.stdout : process.stderr).write(`${asked ? '' : `Unknown command: ${argv.join(' ')}\n\n`}${usage()}\n`);
    return asked ? 0 : USAGE_ERROR;
  }
  const command = COMMANDS[name]!;
  const rest = argv.slice(name.split(' ').length);
  let args: Record<string, string | boolean | undefined>;
  try {
    args = parseArgs({ args: rest, options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }).values as typeof args;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\nUsage: npm run cli -- ${command.usage}\n`);
    return USAGE_ERROR;
  }
  if (args.help) {
    process.stdout.write(`Usage: npm run cli -- ${command.usage} [--json]\n\n${command.about}\n`);
    return 0;
  }
  const missing = (command.required ?? []).filter((option) => typeof args[option] !== 'string' || args[option] === '');
  if (missing.length) {
    process.stderr.write(`Missing ${missing.map((option) => `--${option}`).join(', ')}.\n\nUsage: npm run cli -- ${command.usage}\n`);
    return USAGE_ERROR;
  }
  const json = args.json === true;
  const out: Output = { json, say: (text, data) => process.stdout.write(`${json ? JSON.stringify(data) : text}\n`) };
  try {
    await command.run(args, out);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\nUsage: npm run cli -- ${command.usage}\n`);
      return USAGE_ERROR;
    }
    const message = error instanceof ConfigError || error instanceof OperatorError ? error.message : `The command failed: ${(error as Error).message ?? String(error)}`;
    process.stderr.write(`${message}\n`);
    return 1;
  } finally {
    await database?.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
