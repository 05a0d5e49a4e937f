/**
 * Sign-in for the console: a public OAuth client of our own /oauth
 * (authorization code + PKCE S256) on oauth4webapi, which reads the server's
 * metadata, checks the callback (our state, and the issuer the server names
 * under RFC 9207: a callback without it or from another issuer is refused),
 * exchanges the code and checks the ID token's claims. Tokens live in
 * sessionStorage (this tab only, gone when it closes) and never in a URL: the
 * callback's code and state are removed from the address bar as soon as they
 * are read.
 */
import * as oauth from 'oauth4webapi';

const CLIENT: oauth.Client = { client_id: 'octiv-app' };
/** Where sign-out lands: a page that says so, instead of a bare sign-in form. */
export const SIGNED_OUT_PATH = '/console/signed-out';
const STORAGE_KEY = 'octiv.session';
const PENDING_KEY = 'octiv.pending-login';

const STALE_LINK = 'This sign-in link is not valid any more. Please sign in again.';
const UNREACHABLE = 'The sign-in server cannot be reached. Check your connection and try again.';

export interface Session {
  accessToken: string;
  idToken: string | undefined;
  expiresAt: number;
}

interface PendingSignIn {
  verifier: string;
  state: string;
  returnTo: string;
}

const origin = window.location.origin;
const issuer = new URL(`${origin}/oauth`);
const redirectUri = `${origin}/console/callback`;
const resource = `${origin}/api`;
// The console is served from the issuer's origin: plain http for both only in development.
const requestOptions = { [oauth.allowInsecureRequests]: window.location.protocol === 'http:' };

let metadata: Promise<oauth.AuthorizationServer> | undefined;

/** The server's metadata (OpenID Connect discovery), read once per page. */
function authorizationServer(): Promise<oauth.AuthorizationServer> {
  metadata ??= oauth
    .discoveryRequest(issuer, { algorithm: 'oidc', ...requestOptions })
    .then((response) => oauth.processDiscoveryResponse(issuer, response))
    .catch((error: unknown) => {
      metadata = undefined;
      throw new Error(UNREACHABLE, { cause: error });
    });
  return metadata;
}

function endpoint(as: oauth.AuthorizationServer, name: 'authorization_endpoint' | 'end_session_endpoint'): URL {
  const url = as[name];
  if (!url) throw new Error(`The sign-in server does not say its ${name}.`);
  return new URL(url);
}

export function currentSession(): Session | undefined {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (!stored) return undefined;
  const session = JSON.parse(stored) as Session;
  if (session.expiresAt <= Date.now()) return undefined;
  return session;
}

export function forgetSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Sends the browser to the login page; comes back to `returnTo` afterwards. */
export async function signIn(returnTo = window.location.pathname): Promise<void> {
  const url = endpoint(await authorizationServer(), 'authorization_endpoint');
  const pending: PendingSignIn = { verifier: oauth.generateRandomCodeVerifier(), state: oauth.generateRandomState(), returnTo };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  url.search = new URLSearchParams({
    client_id: CLIENT.client_id,
    response_type: 'code',
    scope: 'openid profile admin',
    resource,
    redirect_uri: redirectUri,
    code_challenge: await oauth.calculatePKCECodeChallenge(pending.verifier),
    code_challenge_method: 'S256',
    state: pending.state,
  }).toString();
  window.location.assign(url.toString());
}

/** The callback's parameters once oauth4webapi has checked them; refused ones throw in words for the page. */
function checkedCallback(as: oauth.AuthorizationServer, parameters: URLSearchParams, state: string): URLSearchParams {
  try {
    return oauth.validateAuthResponse(as, CLIENT, parameters, state);
  } catch (error) {
    // Shown only after state and issuer matched: the words are our server's.
    if (error instanceof oauth.AuthorizationResponseError) throw new Error(error.error_description ?? 'Sign-in was not completed.', { cause: error });
    // The refusal is the library's; this only chooses what to say.
    if (parameters.get('iss') !== as.issuer) throw new Error('The sign-in answer did not come from Octiv sign-in. Please sign in again.', { cause: error });
    throw new Error(STALE_LINK, { cause: error });
  }
}

/**
 * Completes the login on /console/callback: removes the code and state from
 * the URL, checks them, exchanges the code with the PKCE verifier and keeps
 * the tokens. Returns where to go next.
 */
export async function completeSignIn(): Promise<string> {
  const callback = new URL(window.location.href);
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null') as PendingSignIn | null;
  sessionStorage.removeItem(PENDING_KEY);
  window.history.replaceState(null, '', '/console/callback');
  if (!pending) throw new Error(STALE_LINK);
  const as = await authorizationServer();
  const parameters = checkedCallback(as, callback.searchParams, pending.state);
  let tokens: oauth.TokenEndpointResponse;
  try {
    const response = await oauth.authorizationCodeGrantRequest(as, CLIENT, oauth.None(), parameters, redirectUri, pending.verifier, {
      additionalParameters: { resource },
      ...requestOptions,
    });
    tokens = await oauth.processAuthorizationCodeResponse(as, CLIENT, response);
  } catch (error) {
    throw new Error('Sign-in could not be completed. Please sign in again.', { cause: error });
  }
  const session: Session = {
    accessToken: tokens.access_token,
    idToken: tokens.id_token,
    expiresAt: Date.now() + ((tokens.expires_in ?? 300) - 30) * 1000,
  };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  const { returnTo } = pending;
  return returnTo.startsWith('/console') && !returnTo.startsWith('/console/callback') && !returnTo.startsWith(SIGNED_OUT_PATH) ? returnTo : '/console/';
}

/** Forgets the tokens here and ends the session at /oauth too. */
export async function signOut(): Promise<void> {
  const url = endpoint(await authorizationServer(), 'end_session_endpoint');
  const session = currentSession();
  forgetSession();
  url.search = new URLSearchParams({
    client_id: CLIENT.client_id,
    post_logout_redirect_uri: `${origin}${SIGNED_OUT_PATH}`,
    ...(session?.idToken ? { id_token_hint: session.idToken } : {}),
  }).toString();
  window.location.assign(url.toString());
}
