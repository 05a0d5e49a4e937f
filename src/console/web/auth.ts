/**
 * Sign-in for the console: a public OAuth client of our own /oauth
 * (authorization code + PKCE S256). Tokens live in sessionStorage (this tab
 * only, gone when it closes) and never in a URL: the callback's code and state
 * are removed from the address bar as soon as they are read.
 */
const CLIENT_ID = 'octiv-app';
/** Where sign-out lands: a page that says so, instead of a bare sign-in form. */
export const SIGNED_OUT_PATH = '/console/signed-out';
const STORAGE_KEY = 'octiv.session';
const PENDING_KEY = 'octiv.pending-login';

export interface Session {
  accessToken: string;
  idToken: string | undefined;
  expiresAt: number;
}

const origin = window.location.origin;
const issuer = `${origin}/oauth`;
const redirectUri = `${origin}/console/callback`;
const resource = `${origin}/api`;

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const array = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = '';
  for (const byte of array) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
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
  const verifier = randomString();
  const state = randomString();
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnTo }));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const url = new URL(`${issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope: 'openid profile admin',
    resource,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  }).toString();
  window.location.assign(url.toString());
}

/**
 * Completes the login on /console/callback: checks state and issuer,
 * exchanges the code with the PKCE verifier, then removes the code from the
 * URL. Returns where to go next.
 */
export async function completeSignIn(): Promise<string> {
  const params = new URLSearchParams(window.location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null') as { verifier: string; state: string; returnTo: string } | null;
  sessionStorage.removeItem(PENDING_KEY);
  window.history.replaceState(null, '', '/console/callback');
  if (params.get('error')) throw new Error(params.get('error_description') ?? 'Sign-in was not completed.');
  if (!pending || params.get('state') !== pending.state) throw new Error('This sign-in link is not valid any more. Please sign in again.');
  if (params.get('iss') && params.get('iss') !== issuer) throw new Error('The sign-in answer came from an unexpected server.');
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: CLIENT_ID,
      code: params.get('code') ?? '',
      redirect_uri: redirectUri,
      code_verifier: pending.verifier,
      resource,
    }).toString(),
  });
  if (!response.ok) throw new Error('Sign-in could not be completed. Please sign in again.');
  const tokens = (await response.json()) as { access_token: string; id_token?: string; expires_in: number };
  const session: Session = {
    accessToken: tokens.access_token,
    idToken: tokens.id_token,
    expiresAt: Date.now() + (tokens.expires_in - 30) * 1000,
  };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  return pending.returnTo.startsWith('/console') && !pending.returnTo.startsWith('/console/callback') && !pending.returnTo.startsWith(SIGNED_OUT_PATH) ? pending.returnTo : '/console/';
}

/** Forgets the tokens here and ends the session at /oauth too. */
export function signOut(): void {
  const session = currentSession();
  forgetSession();
  const url = new URL(`${issuer}/session/end`);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    post_logout_redirect_uri: `${origin}${SIGNED_OUT_PATH}`,
    ...(session?.idToken ? { id_token_hint: session.idToken } : {}),
  }).toString();
  window.location.assign(url.toString());
}
