import type { ClientMetadata } from 'oidc-provider';

import type { Config } from '../config.js';
import { API_KEYS_CLIENT_ID, OCTIV_APP_CLIENT_ID } from '../shared/clients.js';

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
