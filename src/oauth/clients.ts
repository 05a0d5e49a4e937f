import type { ClientMetadata } from 'oidc-provider';

import { LEADS_CREATE } from '../api-keys/scopes.js';
import type { Config } from '../config.js';
import type { ResourceServerClient } from './key-introspection.js';

export const OCTIV_APP_CLIENT_ID = 'octiv-app';
/**
 * The client that owns API keys. It has no grant types and no secret, so no
 * flow can use it; it exists because every token must name a client.
 */
export const API_KEYS_CLIENT_ID = 'octiv-api-keys';

/**
 * Resource-server clients allowed to introspect, and what each one's API
 * requires of a key (introspection answers `active` only for keys that API
 * would accept).
 */
export function resourceServerClients(config: Config): Map<string, ResourceServerClient> {
  return new Map([
    [config.leadsApiClient.id, { secret: config.leadsApiClient.secret, requirement: { audience: config.leadsApiResource, scope: LEADS_CREATE } }],
  ]);
}

export function clientsFor(config: Config): ClientMetadata[] {
  return [
    {
      client_id: OCTIV_APP_CLIENT_ID,
      client_name: 'Octiv',
      application_type: 'web',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: config.octivAppRedirectUris,
      post_logout_redirect_uris: [`${config.publicUrl}/console/signed-out`, `${config.publicUrl}/console/`],
    },
    {
      client_id: config.leadsApiClient.id,
      client_name: 'Leads API (resource server)',
      client_secret: config.leadsApiClient.secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: API_KEYS_CLIENT_ID,
      client_name: 'System Integrations API keys',
      token_endpoint_auth_method: 'none',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ];
}

/** First-party clients skip the consent screen. */
export const FIRST_PARTY_CLIENTS = new Set([OCTIV_APP_CLIENT_ID]);
