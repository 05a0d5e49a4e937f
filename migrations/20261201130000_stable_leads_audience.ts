import type { Knex } from 'knex';

/**
 * The Leads API's audience used to be `${PUBLIC_URL}/api/v1/leads`, written
 * into every key's token when it was minted, so a new public address broke
 * every key. It is now a stable name (LEADS_API_DEFAULT_AUDIENCE in
 * src/config.ts); this renames the audience of the keys minted before, so
 * they keep working. Only tokens of the API-keys client with a URL audience
 * ending in /api/v1/leads are touched.
 */
const DEFAULT_AUDIENCE = 'urn:octiv:api:leads';
const LEGACY = `^https?://[^/]+(/.*)?/api/v1/leads$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `update oidc_payloads set payload = jsonb_set(payload, '{aud}', to_jsonb(?::text))
     where model = 'AccessToken' and payload->>'clientId' = 'octiv-api-keys'
       and jsonb_typeof(payload->'aud') = 'string' and payload->>'aud' ~ ?`,
    [DEFAULT_AUDIENCE, LEGACY],
  );
}

export async function down(): Promise<void> {
  // The old URL cannot be known again (it was PUBLIC_URL at minting): the keys keep the stable name.
}
