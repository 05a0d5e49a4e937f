import http from 'node:http';

import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import pg from 'pg';

/**
 * The introspection benchmark's reference: stock oidc-provider, its own
 * introspection endpoint, on Postgres through a plain pg adapter (one table,
 * one row per model and id), with one confidential client and one opaque
 * access token minted at start. No logging, no middleware of ours. It
 * prints `token <value>` on stdout for the bench to introspect.
 */
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX ?? 10) });
await pool.query(`create table if not exists stock_payloads (
  model text not null, id text not null, payload jsonb not null, grant_id text, uid text, user_code text,
  expires_at timestamptz, consumed_at timestamptz, primary key (model, id))`);

class PgAdapter implements Adapter {
  constructor(private readonly model: string) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    await pool.query(
      `insert into stock_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
       values ($1, $2, $3, $4, $5, $6, case when $7::int is null then null else now() + $7::int * interval '1 second' end)
       on conflict (model, id) do update set payload = excluded.payload, expires_at = excluded.expires_at`,
      [this.model, id, payload, payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresIn ?? null],
    );
  }

  private async findBy(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
    const { rows } = await pool.query<{ payload: AdapterPayload; consumed_at: Date | null }>(
      `select payload, consumed_at from stock_payloads where model = $1 and ${column} = $2 and (expires_at is null or expires_at > now())`,
      [this.model, value],
    );
    const row = rows[0];
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
  }

  find(id: string) {
    return this.findBy('id', id);
  }

  findByUid(uid: string) {
    return this.findBy('uid', uid);
  }

  findByUserCode(userCode: string) {
    return this.findBy('user_code', userCode);
  }

  async consume(id: string): Promise<void> {
    await pool.query('update stock_payloads set consumed_at = now() where model = $1 and id = $2', [this.model, id]);
  }

  async destroy(id: string): Promise<void> {
    await pool.query('delete from stock_payloads where model = $1 and id = $2', [this.model, id]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await pool.query('delete from stock_payloads where grant_id = $1', [grantId]);
  }
}

const port = Number(process.env.PORT);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  adapter: PgAdapter,
  clients: [
    {
      client_id: 'resource-server',
      client_secret: 'stock-provider-bench-secret-0123456789',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  features: { introspection: { enabled: true }, devInteractions: { enabled: false } },
  cookies: { keys: ['stock-provider-bench-cookie-key-0123456789'] },
});
const client = await provider.Client.find('resource-server');
const token = await new provider.AccessToken({ client, accountId: 'bench', scope: 'openid', expiresIn: 3600 } as never).save();
http.createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  process.stdout.write(`token ${token}\n`);
});
