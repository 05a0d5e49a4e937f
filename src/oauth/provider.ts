import type { Knex } from 'knex';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

import type { Config } from '../config.js';
import { answerProviderFailure } from '../http/error-handler.js';
import { escapeHtml, renderErrorPage, renderPage } from '../http/html.js';
import type { Logger } from '../logger.js';
import { ADMIN_SCOPE, API_KEYS_CLIENT_ID, audienceList, FIRST_PARTY_CLIENTS, OCTIV_APP_CLIENT_ID } from '../shared/clients.js';
import type { StaffStore } from '../staff/store.js';
import { createKnexAdapter } from './adapter.js';
import { clientsFor } from './clients.js';
import { derivedKeys, type ServerKeys } from './server-keys.js';
const OPENID_SCOPES = 'openid profile email';
const STAFF_ACCESS_TOKEN_TTL = 60 * 60;

export interface ProviderDeps {
  config: Config;
  db: Knex;
  logger: Logger;
  keys: ServerKeys;
  staffStore: StaffStore;
  /** True for a value shaped like an API key: the provider never looks those up (the key verifier does). */
  isApiKey?: (value: string) => boolean;
  /** The resource-server clients that may introspect, by client id, and the audience of each one's API. */
  resourceServerAudiences: ReadonlyMap<string, string>;
}

/**
 * True when the sign-out request is the console's, for the session it is
 * made in: its ID token hint names the account signed in here and has not
 * expired. The provider has checked the hint's signature, issuer and
 * audience, but neither its expiry nor whose it is: without this, any
 * account's ID token (an attacker's own) or an old one found somewhere
 * would sign anyone out by a link. Every other request gets the page that
 * asks, whose form carries a secret tied to the session (the provider's
 * xsrf value), so another site cannot submit it for the staff member.
 */
function consoleSignsOutItsSession(ctx: KoaContextWithOIDC): boolean {
  const hint = ctx.oidc.entities.IdTokenHint?.payload;
  const accountId = ctx.oidc.session?.accountId;
  return (
    ctx.oidc.client?.clientId === OCTIV_APP_CLIENT_ID &&
    accountId !== undefined &&
    hint?.sub === accountId &&
    typeof hint.exp === 'number' &&
    hint.exp > Date.now() / 1000
  );
}

/**
 * Builds the oidc-provider instance that issues and stores every token: staff
 * sign-in for the web app (authorization code + PKCE), introspection for
 * resource servers, and the opaque access tokens that are our API keys.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, db, logger, keys, staffStore, resourceServerAudiences } = deps;
  const https = config.publicUrl.startsWith('https://');

  const configuration: Configuration = {
    adapter: createKnexAdapter(db, { sealKeys: derivedKeys(keys, 'stored sessions and interactions'), isApiKey: deps.isApiKey }),
    clients: clientsFor(config),
    // Public clients (the console) send none; resource servers HTTP Basic, as registered. No secret ever travels in a body.
    clientAuthMethods: ['none', 'client_secret_basic'],
    jwks: keys.jwks as Configuration['jwks'],
    cookies: {
      keys: keys.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax', secure: https },
      short: { signed: true, httpOnly: true, sameSite: 'lax', secure: https },
    },
    scopes: ['openid', 'profile', 'email'],
    responseTypes: ['code'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      introspection: {
        enabled: true,
        // Only configured resource-server clients, and only for tokens meant for them. API keys
        // are answered by the key verifier before a request reaches the provider
        // (key-introspection.ts): here they are never active.
        allowedPolicy: async (_ctx, client, token) => {
          const audience = resourceServerAudiences.get(client.clientId);
          return (
            audience !== undefined &&
            token.kind === 'AccessToken' &&
            token.clientId !== API_KEYS_CLIENT_ID &&
            audienceList((token as { aud?: string | string[] }).aud).includes(audience)
          );
        },
      },
      revocation: {
        enabled: true,
        // API keys are deleted through the admin API (which also removes them
        // from the list), never through /oauth/token/revocation. Answering as
        // if it worked keeps the endpoint from revealing whether a key is live.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId && token.clientId !== API_KEYS_CLIENT_ID,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator, client) => {
          if (client.clientId === OCTIV_APP_CLIENT_ID && resourceIndicator === config.adminApiResource) {
            return {
              scope: ADMIN_SCOPE,
              audience: config.adminApiResource,
              accessTokenFormat: 'opaque',
              accessTokenTTL: STAFF_ACCESS_TOKEN_TTL,
            };
          }
          throw new errors.InvalidTarget();
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        // Signing out is confirmed unless the console asked for this very session (see
        // consoleSignsOutItsSession): a link from another site cannot sign a staff member out.
        logoutSource: async (ctx, form) => {
          const nonce = (ctx.state as { cspNonce?: string }).cspNonce ?? '';
          ctx.type = 'html';
          ctx.body = consoleSignsOutItsSession(ctx)
            ? renderPage(
                'Signing out',
                `${form}<h1>Signing out…</h1><noscript><button form="op.logoutForm" type="submit" name="logout" value="yes">Sign out</button></noscript>
<script nonce="${escapeHtml(nonce)}">
  var f = document.forms['op.logoutForm']; var i = document.createElement('input');
  i.type = 'hidden'; i.name = 'logout'; i.value = 'yes'; f.appendChild(i); f.submit();
</script>`,
              )
            : renderPage(
                'Sign out',
                `${form}<h1>Sign out of Octiv?</h1>
<p class="muted">You asked to sign out, or a link did. Choose what to do.</p>
<button form="op.logoutForm" type="submit" name="logout" value="yes">Sign out</button>
<button form="op.logoutForm" type="submit" class="secondary">Stay signed in</button>`,
              );
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? STAFF_ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      Grant: 14 * 24 * 60 * 60,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
    },
    // Keep the claims we set ourselves (API keys' facility_id and key_id).
    extraTokenClaims: async (_ctx, token) => (token as { extra?: Record<string, unknown> }).extra,
    findAccount: async (_ctx, sub) => {
      const staff = await staffStore.findById(sub);
      if (!staff) return undefined;
      return {
        accountId: staff.id,
        claims: async () => ({ sub: staff.id, name: staff.name, email: staff.email }),
      };
    },
    // First-party clients get their grant without a consent screen.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { client, session, result } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = (result?.consent as { grantId?: string } | undefined)?.grantId ?? session.grantIdFor(client.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!FIRST_PARTY_CLIENTS.has(client.clientId)) return existing;
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope(OPENID_SCOPES);
      grant.addResourceScope(config.adminApiResource, ADMIN_SCOPE);
      await grant.save();
      return grant;
    },
    interactions: {
      url: (_ctx, interaction) => `/oauth/interaction/${interaction.uid}`,
    },
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false,
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = renderErrorPage({
        title: 'Sign-in problem',
        detail: out.error_description ? String(out.error_description) : String(out.error),
        requestId: String((ctx.state as { requestId?: string }).requestId ?? ''),
      });
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  provider.on('server_error', (ctx, error) => {
    answerProviderFailure(ctx, error);
    (((ctx.state as { log?: Logger }).log) ?? logger).error({ err: error }, 'oidc-provider server error');
  });
  return provider;
}
