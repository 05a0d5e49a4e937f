import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';

import Koa from 'koa';
import pg from 'pg';

/**
 * The benchmark's baseline: a bare Koa route that inserts the same member row
 * with `pg` (the same columns, `created_by_key` included, so the same
 * constraint checks run). No authentication, no validation, no logging.
 * With LOOKUP_KEY=1 it first looks the bearer key's hash up, as the floor of
 * any design that checks a key in the database before writing.
 */
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX ?? 10) });
const facilityId = process.env.FACILITY_ID!;
const keyId = process.env.KEY_ID!;
const lookupKey = process.env.LOOKUP_KEY === '1';
const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/api/v1/leads') {
    ctx.status = 404;
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string | undefined>;
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
http.createServer(app.callback()).listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.stdout.write('listening\n');
});
