import { api } from './oauth.js';
import type { TestServer } from './server.js';

/** Creates an API key through the admin API; fails the test helper loudly if it cannot. */
export async function createKey(server: TestServer, token: string, name: string, scopes = ['leads:create']) {
  const response = await api(server, '/api/v1/api-keys', { token, body: { name, scopes } });
  if (response.status !== 201) throw new Error(`creating key "${name}" answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body as {
    id: string;
    name: string;
    scopes: string[];
    createdAt: string;
    createdBy: { id: string; name: string };
    status: string;
    expiresAt: string | null;
    key: string;
  };
}

/** RFC 7662 introspection as the leads-api resource server. */
export async function introspect(server: TestServer, token: string, credentials?: { id: string; secret: string }) {
  const { id, secret } = credentials ?? server.config.leadsApiClient;
  const response = await fetch(`${server.url}/oauth/token/introspection`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Every row of every table, as text: to prove a secret is not stored. */
export async function dumpDatabase(server: TestServer): Promise<string> {
  const tables: string[] = await server.db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name');
  const rows = await Promise.all(tables.map((table) => server.db(table).select('*')));
  return JSON.stringify(rows);
}

/**
 * Mints a token in the API key format straight through the provider, for
 * cases the admin API cannot make (another scope, a short life).
 */
export async function mintKey(server: TestServer, options: { scope: string; facilityId: string; expiresIn: number; audience?: string }): Promise<string> {
  const { generateKey } = await import('../../src/api-keys/key-format.js');
  const { API_KEYS_CLIENT_ID } = await import('../../src/shared/clients.js');
  const { provider } = server;
  const token = new provider.AccessToken({
    client: await provider.Client.find(API_KEYS_CLIENT_ID),
    scope: options.scope,
    resourceServer: { scope: options.scope, audience: options.audience ?? server.config.leadsApiResource },
    expiresIn: options.expiresIn,
    extra: { facility_id: options.facilityId, key_id: crypto.randomUUID() },
  } as never);
  const key = generateKey();
  Object.assign(token, { jti: key, format: 'opaque' });
  return token.save();
}
