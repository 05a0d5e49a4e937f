import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';

import Koa from 'koa';
import pg from 'pg';

/**
 * The benchmark's baselines: bare Koa routes on `pg`, with no
 * authentication, validation or logging of ours.
 *
 * - POST /api/v1/leads inserts the same member row the Leads API inserts
 *   (the same columns, `created_by_key` included, so the same constraint
 *   checks run). With LOOKUP_KEY=1 it first looks the bearer key's hash up,
 *   as the floor of any design that checks a key in the database before
 *   writing.
 * - POST /oauth/token/introspection reads the form, hashes the token and
 *   selects its row (the floor of any introspection that reads the database
 *   once), answering `active` and the row's claims.
 */
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX ?? 10) });
const facilityId = process.env.FACILITY_ID!;
const keyId = process.env.KEY_ID!;
const lookupKey = process.env.LOOKUP_KEY === '1';

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method === 'POST' && ctx.path === '/oauth/token/introspection') {
    const token = new URLSearchParams(await readBody(ctx.req)).get('token') ?? '';
    const hash = createHash('sha256').update(token).digest('hex');
    const { rows } = await pool.query<{ payload: Record<string, unknown> }>(
      `select payload from oidc_payloads where model = 'AccessToken' and id = $1 and (expires_at is null or expires_at > now())`,
      [hash],
    );
    const payload = rows[0]?.payload;
    ctx.body = payload ? { active: true, scope: payload.scope, client_id: payload.clientId, aud: payload.aud, iat: payload.iat, exp: payload.exp, ...(payload.extra as object) } : { active: false };
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/api/v1/leads') {
    // The floor of a page of leads: the facility's first `limit` by time, nothing checked.
    const { rows } = await pool.query(
      `select id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_at
       from members where facility_id = $1 order by created_at, id limit $2`,
      [facilityId, Math.min(200, Number(ctx.query.limit ?? 50))],
    );
    ctx.body = { items: rows };
    return;
  }
  if (ctx.method !== 'POST' || ctx.path !== '/api/v1/leads') {
    ctx.status = 404;
    return;
  }
  const body = JSON.parse(await readBody(ctx.req)) as Record<string, string | undefined>;
  if (lookupKey) {
    // "Baseline + key lookup": the one query any database-checked key costs.
    const hash = createHash('sha256').update(ctx.get('authorization').slice(7)).digest('hex');
    const found = await pool.query(
      `select payload from oidc_payloads where model = 'AccessToken' and id = $1 and (expires_at is null or expires_at > now())`,
      [hash],
    );
    if (found.rowCount !== 1) {
      ctx.status = 401;
      return;
    }
  }
  const { rows } = await pool.query(
    `insert into members (id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_by_key)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'lead', $10)
     returning id, facility_id, location_id, first_name, last_name, email, phone, source, notes, status, created_at`,
    [randomUUID(), facilityId, body.locationId ?? null, body.firstName, body.lastName, body.email, body.phone ?? null, body.source ?? null, body.notes ?? null, keyId],
  );
  ctx.status = 201;
  ctx.body = rows[0];
});
// A clean exit on SIGTERM, so a profiled run (BENCH_NODE_ARGS=--cpu-prof) writes its profile.
process.on('SIGTERM', () => process.exit(0));
http.createServer(app.callback()).listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.stdout.write('listening\n');
});
