import * as client from 'openid-client';

import { Browser } from './browser.js';
import { DEMO_PASSWORD, type TestServer } from './server.js';

export interface LoginStart {
  browser: Browser;
  /** The login page the authorization request landed on. */
  loginPage: { response: Response; url: URL };
  /** Submits the login form; resolves to the page or redirect that follows. */
  submit(email: string, password: string): Promise<Response>;
  /** After a successful submit: follows to the callback and exchanges the code. */
  finish(afterSubmit: Response): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>;
}

/** Discovers the server as an outside relying party would (openid-client). */
export async function discover(server: TestServer): Promise<client.Configuration> {
  return client.discovery(new URL(server.config.issuer), 'octiv-app', undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

/**
 * Starts the web app's login as API.md describes it: authorization code with
 * PKCE S256, `scope=openid profile admin` and the admin API resource, up to
 * the login form. A `browser` of an earlier login keeps its cookies;
 * `parameters` adds to the authorization request (`prompt`, `max_age`).
 * `beforeFollow` sees the authorization request's own answer before its
 * redirects are followed.
 */
export async function startLogin(
  server: TestServer,
  options: { browser?: Browser; parameters?: Record<string, string>; beforeFollow?: (response: Response) => Promise<void> } = {},
): Promise<LoginStart> {
  const configuration = await discover(server);
  const redirectUri = `${server.url}/console/callback`;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorizationUrl = client.buildAuthorizationUrl(configuration, {
    redirect_uri: redirectUri,
    scope: 'openid profile admin',
    resource: server.config.adminApiResource,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...options.parameters,
  });
  const browser = options.browser ?? new Browser();
  const first = await browser.request(authorizationUrl);
  await options.beforeFollow?.(first);
  const loginPage = await browser.follow(first, authorizationUrl);
  const action = new URL(`${loginPage.url.pathname}/login`, server.url);
  return {
    browser,
    loginPage,
    submit: (email, password) => browser.postForm(action, { email, password }),
    async finish(afterSubmit) {
      const { url: callback } = await browser.follow(afterSubmit, action, redirectUri);
      if (!callback.href.startsWith(redirectUri)) throw new Error(`login did not reach the callback (ended at ${callback.pathname})`);
      return client.authorizationCodeGrant(
        configuration,
        callback,
        { pkceCodeVerifier: verifier, expectedState: state },
        { resource: server.config.adminApiResource },
      );
    },
  };
}

/** Signs a staff member in through the real login form; returns the admin API access token. */
export async function signIn(server: TestServer, email: string, password = DEMO_PASSWORD): Promise<string> {
  const login = await startLogin(server);
  const tokens = await login.finish(await login.submit(email, password));
  return tokens.access_token;
}

/** Calls the JSON API with a bearer token. */
export async function api(
  server: TestServer,
  path: string,
  options: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['Content-Type'] ??= 'application/json';
  const response = await fetch(`${server.url}${path}`, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  }).catch((error: Error & { cause?: { message?: string; code?: string } }) => {
    // undici's "fetch failed" hides why: say it.
    throw new Error(`${options.method ?? 'request'} ${path}: ${error.message} (${error.cause?.code ?? ''} ${error.cause?.message ?? ''})`, { cause: error });
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body };
}
