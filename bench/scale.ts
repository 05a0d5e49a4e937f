import { randomUUID } from 'node:crypto';

import type { Knex } from 'knex';
import pg from 'pg';

import { LEADS_CREATE } from '../src/api-keys/scopes.js';
import type { Config } from '../src/config.js';
import { createDatabase } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';
import { createServices } from '../src/services.js';
import { hashToken } from '../src/shared/token-hash.js';

/**
 * The scale run's database: many facilities, keys and leads, written by
 * Postgres itself (`generate_series`, in batches) in minutes. Each generated
 * key is a real key's three rows (the key, its secret, its token), copied
 * from the benchmark's own key with its own ids and hash, ten keys to a
 * facility with one Owner each; leads are spread over the same facilities.
 * The rows satisfy every constraint by construction, so the fill skips the
 * per-row foreign-key triggers (session_replication_role = replica); the
 * indexes are maintained as on any insert.
 */
export interface ScaleSize {
  keys: number;
  leads: number;
}

const KEYS_PER_FACILITY = 10;
const BATCH = 1_000_000;

/** Runs `sql` once per batch of `total` rows, binding each batch's first and last row number. */
async function inBatches(client: pg.Client, label: string, total: number, sql: string, extra: unknown[] = []): Promise<void> {
  const started = Date.now();
  for (let from = 0; from < total; from += BATCH) {
    const to = Math.min(total, from + BATCH) - 1;
    await client.query(sql, [from, to, ...extra]);
    process.stdout.write(`\r  ${label}: ${(to + 1).toLocaleString('en')} of ${total.toLocaleString('en')} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  if (total > 0) process.stdout.write('\n');
}

/** Fills the database with `size` more keys and leads, modelled on the key whose secret hashes to `templateHash`. */
export async function fillDatabase(databaseUrl: string, size: ScaleSize, templateHash: string): Promise<number> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`set session_replication_role = replica`);
    const facilities = Math.max(1, Math.ceil(size.keys / KEYS_PER_FACILITY));
    // Facility i, its Owner, and key j (of facility j % facilities) have ids derived from their numbers.
    await inBatches(
      client,
      'facilities and owners',
      facilities,
      `with f as (
         insert into facilities (id, name)
         select md5('scale-facility-' || i)::uuid, 'Scale Gym ' || i from generate_series($1::int, $2::int) i
         returning id, name)
       insert into staff (id, facility_id, name, email, role, password_hash, system_integrations)
       select md5('scale-owner-' || f.id)::uuid, f.id, 'Owner of ' || f.name, 'owner-' || f.id || '@scale.example', 'owner', 'not-a-password-hash', true from f`,
    );
    await inBatches(
      client,
      'keys (key, secret and token rows)',
      size.keys,
      `with n as (
         select j, md5('scale-facility-' || (j % $3::int))::uuid as facility_id, md5('scale-key-' || j)::uuid as key_id,
           encode(sha256(convert_to('scale-secret-' || j, 'UTF8')), 'hex') as token_hash
         from generate_series($1::int, $2::int) j),
       keys as (
         insert into api_keys (id, facility_id, name, name_skeleton, scopes, created_by, created_at)
         select key_id, facility_id, 'Key ' || j, 'scale key ' || j, '{leads:create}', md5('scale-owner-' || facility_id)::uuid, now() - (j % 1000) * interval '1 hour' from n),
       secrets as (
         insert into api_key_secrets (token_hash, key_id, hint, created_at)
         select token_hash, key_id, right(token_hash, 4), now() - (j % 1000) * interval '1 hour' from n)
       insert into oidc_payloads (model, id, payload, expires_at)
       select 'AccessToken', n.token_hash,
         t.payload || jsonb_build_object('jti', n.token_hash, 'extra', jsonb_build_object('facility_id', n.facility_id, 'key_id', n.key_id)),
         t.expires_at
       from n, (select payload, expires_at from oidc_payloads where model = 'AccessToken' and id = $4) t`,
      [facilities, templateHash],
    );
    await inBatches(
      client,
      'leads',
      size.leads,
      `insert into members (id, facility_id, first_name, last_name, email, phone, source, status, created_by_key, created_at)
       select md5('scale-lead-' || i)::uuid, md5('scale-facility-' || (i % $3::int))::uuid, 'Lead', 'Number ' || i,
         'lead-' || i || '@scale.example', '+44 7700 ' || lpad((i % 1000000)::text, 6, '0'), 'scale', 'lead',
         md5('scale-key-' || (i % $3::int))::uuid, now() - (i % 10000) * interval '1 minute'
       from generate_series($1::int, $2::int) i`,
      [Math.min(facilities, Math.max(1, size.keys))],
    );
    await client.query('reset session_replication_role');
    process.stdout.write('  vacuum analyze\n');
    await client.query('vacuum analyze');
  } finally {
    await client.end();
  }
  return (Date.now() - started) / 1000;
}

/** Each table's rows and size on disk (heap, indexes and TOAST), largest first. */
export async function tableSizes(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; rows: string; total: string; heap: string; indexes: string }>(
      `select c.relname as name, c.reltuples::bigint as rows, pg_total_relation_size(c.oid) as total,
         pg_relation_size(c.oid) as heap, pg_indexes_size(c.oid) as indexes
       from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
       where ns.nspname = 'public' and c.relkind = 'r' and c.reltuples > 1000
       order by pg_total_relation_size(c.oid) desc`,
    );
    const mib = (bytes: string | number) => `${(Number(bytes) / 1024 / 1024).toFixed(0)} MiB`;
    return rows.map((row) => {
      const perMillion = Number(row.rows) > 0 ? mib((Number(row.total) * 1_000_000) / Number(row.rows)) : '-';
      return `${row.name.padEnd(18)} ${Number(row.rows).toLocaleString('en').padStart(12)} rows  ${mib(row.total).padStart(9)} (heap ${mib(row.heap)}, indexes ${mib(row.indexes)})  ${perMillion} per million rows`;
    });
  } finally {
    await client.end();
  }
}

/**
 * The plans of the hot statements, with the texts the server sends: the
 * Leads API's one-statement write (the key check inside it) and the
 * verifier's verdict (introspection). The statements are captured from the
 * server's own code (the composition root's services, on the fast path's statement events) and
 * explained with their values, inside a transaction that is rolled back.
 */
export async function explainHotStatements(config: Config, databaseUrl: string, key: string): Promise<string[]> {
  const database = await createDatabase({ kind: 'postgres', url: databaseUrl, poolMax: 1 });
  const captured: { text: string; values: readonly unknown[] }[] = [];
  database.fast.onStatement((sent) => captured.push(sent));
  const lead = {
    id: randomUUID(),
    locationId: null,
    firstName: 'Plan',
    lastName: 'Check',
    email: `plan.${randomUUID()}@example.com`,
    phone: null,
    source: null,
    notes: null,
  };
  try {
    // The server's own statements, from the composition root's services.
    const services = await createServices(config, database, createLogger('warn'), { role: 'operator' });
    const requirement = services.requirements.of(LEADS_CREATE);
    const tokenHash = hashToken(key);
    await services.leadWriter.insert(lead, { kind: 'live', tokenHash, requirement });
    await services.verifier.verifyHash(tokenHash, requirement);
  } finally {
    await database.close();
  }
  const [insert, verdict] = captured;
  const out: string[] = [];
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('begin');
    for (const [title, query] of [
      ['POST /api/v1/leads: the one-statement write (key check and insert)', insert!],
      ["Introspection: the verifier's verdict", verdict!],
    ] as const) {
      // A fresh id and email, so the explained insert does not collide with the one just made.
      const values = query.values.map((value) => (value === lead.id ? randomUUID() : value === lead.email ? `plan.${randomUUID()}@example.com` : value));
      const result = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, costs off, timing off, summary off) ${query.text}`, values);
      out.push(`${title}:`, ...result.rows.map((row) => `    ${row['QUERY PLAN']}`));
    }
  } finally {
    await client.query('rollback').catch(() => undefined);
    await client.end();
  }
  return out;
}
