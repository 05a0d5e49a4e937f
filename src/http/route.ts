import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { readJsonBody, readRawJsonBody } from './body.js';
import { notFound, validationFailed } from './errors.js';
import { parseOrThrow } from './validation.js';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * A header an answer carries: one of the shared headers (src/http/answers.ts
 * `RESPONSE_HEADERS`) by name, `always` or `sometimes`; or one of its own.
 */
export type HeaderUse = 'always' | 'sometimes' | { description: string; schema: z.ZodType; required: boolean };

/** One answer of a route, for one status. */
export interface RouteResponse {
  description: string;
  /**
   * The JSON body (`application/json`). On an error status, the members the
   * problem adds to RFC 9457's (e.g. `leadId`): errors are always
   * `application/problem+json`.
   */
  body?: z.ZodType;
  /** The same answer in other media types, chosen by `Accept` (e.g. `text/csv`). */
  alternatives?: Record<string, z.ZodType>;
  /** The headers it carries (beyond `X-Request-Id`, which every answer has). */
  headers?: Record<string, HeaderUse>;
}

/**
 * Answers something a route declares brings with it (a kind of credential,
 * a request header such as `Idempotency-Key`): statuses, and headers any
 * answer of the route may carry. Merged with the route's own.
 */
export interface Answers {
  responses?: Record<number, RouteResponse>;
  headers?: Record<string, HeaderUse>;
}

/**
 * Who may call a route, and what its handler gets as the caller: one entry
 * per kind of credential. This module knows only `none`; each authenticator
 * adds its own entry where it is defined (declaration merging), so the HTTP
 * layer depends on none of them.
 */
export interface Principals {
  none: undefined;
}

/**
 * What a route declares its credential must allow, per kind (an API key's
 * scope, say); added by each authenticator like `Principals`.
 */
export interface Requires {
  none: undefined;
}

export type Security = keyof Principals;

/**
 * Authenticates a request, then runs the rest of the route with the caller.
 * Continuation-passing, so an authenticator can also see how the route ended
 * (an API key checked inside the route's own write is settled there).
 */
export type Authenticate<T> = (ctx: Context, run: (principal: T) => Promise<void>) => Promise<void>;

/**
 * Makes the authentication of one route, once, when routes are mounted: it
 * reads what the route declares (`requires`) and may refuse to mount a
 * route that declares too little.
 */
export type Authenticator<S extends Security> = (route: AnyRoute) => Authenticate<Principals[S]>;

export type Authenticators = { [S in Exclude<Security, 'none'>]: Authenticator<S> };

/** A rule declared on a route (a permission, a role), checked after authentication. */
export type Guard<T> = (principal: T) => void;

export interface RouteInput<P, Q, B, S extends Security = Security> {
  principal: Principals[S];
  params: P;
  query: Q;
  body: B;
  /** Declared request headers that were sent, validated, by lower-case name. */
  headers: Record<string, unknown>;
  /** The raw body, for routes that declare `rawBody`. */
  raw?: Buffer;
}

/**
 * One API route, declared once: the zod schemas here both validate requests
 * and generate the OpenAPI document, so the two cannot drift apart.
 */
export interface Route<P = unknown, Q = unknown, B = unknown, S extends Security = Security> {
  method: Method;
  /** Koa-style path below /api/v1, e.g. `/api-keys/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** Who may call it; the matching authenticator runs first and gives `handle` its principal. */
  security: S;
  /** What the credential must allow (an API key's scope); the authenticator reads it when the route is mounted. */
  requires?: Requires[S];
  /** Guards declared on the route (permissions, roles), run after authentication. */
  guards?: Guard<Principals[S]>[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  bodyLimit?: number;
  /** The body's raw bytes instead (JSON, up to this many bytes), as `input.raw`: for a handler that checks a signature over them before parsing. */
  rawBody?: { limit: number; schema: z.ZodType; description: string };
  /** Request headers it reads; one may bring answers of its own (`answers`, e.g. an Idempotency-Key's 409 and 422). */
  requestHeaders?: Record<string, { description: string; schema: z.ZodType; required?: boolean; answers?: Answers }>;
  /**
   * Its own answers (a 409 for a duplicate name, its success). The answers
   * every route of its kind gives (400 for bad input, 401, 404 for an id,
   * 413, 415, 429, 503, 500...) are derived from the rest of the declaration
   * (src/http/answers.ts) and need not be repeated.
   */
  responses: Record<number, RouteResponse>;
  /** `false`: it answers without the database (no 503). */
  database?: false;
  handle(ctx: Context, input: RouteInput<P, Q, B, S>): Promise<void>;
}

/** Declares a route; inference gives `handle` typed input and its principal. */
export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined, S extends Security = Security>(
  route: Route<P, Q, B, S>,
): Route<P, Q, B, S> {
  return route;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = Route<any, any, any, any>;

const noAuthentication: Authenticate<undefined> = (_ctx, run) => run(undefined);

/** The authentication of one route: none, or the route's own, made by its kind's authenticator. */
function authenticationOf(route: AnyRoute, authenticators: Authenticators): Authenticate<unknown> {
  if (route.security === 'none') return noAuthentication as Authenticate<unknown>;
  const authenticator = authenticators[route.security as Exclude<Security, 'none'>] as Authenticator<Exclude<Security, 'none'>> | undefined;
  if (!authenticator) throw new Error(`route ${route.operationId}: no authenticator for security "${String(route.security)}"`);
  return authenticator(route) as Authenticate<unknown>;
}

/**
 * Mounts routes on a router: authenticate, run the declared guards, parse and
 * validate params, query and body, then call the handler with typed input.
 * Handlers never read the raw request.
 */
export function mountRoutes(router: Router, routes: AnyRoute[], authenticators: Authenticators): void {
  for (const route of routes) {
    const authenticate = authenticationOf(route, authenticators);
    const guards = (route.guards ?? []) as Guard<unknown>[];
    const headers = declaredHeaders(route);
    const handle: Middleware = function authenticateValidateAndHandle(ctx) {
      return authenticate(ctx, async (principal) => {
        for (let index = 0; index < guards.length; index += 1) guards[index]!(principal);
        await route.handle(ctx, await readInput(route, headers, ctx, principal));
      });
    };
    router[route.method](route.operationId, route.path, handle);
  }
}

/** A route's declared request headers, with the lower-case name a request's headers are keyed by (computed once per route). */
interface DeclaredHeader {
  name: string;
  key: string;
  schema: z.ZodType;
  required: boolean;
}

function declaredHeaders(route: AnyRoute): DeclaredHeader[] {
  return Object.entries(route.requestHeaders ?? {}).map(([name, header]) => ({ name, key: name.toLowerCase(), schema: header.schema, required: header.required ?? false }));
}

/** Parses and validates a request's params, query, declared headers and body. */
async function readInput(route: AnyRoute, declared: DeclaredHeader[], ctx: Context, principal: unknown): Promise<RouteInput<unknown, unknown, unknown>> {
  let params: unknown = {};
  if (route.params) {
    // A malformed id names no resource: 404, exactly like an unknown one.
    const parsed = route.params.safeParse(ctx.params);
    if (!parsed.success) throw notFound();
    params = parsed.data;
  }
  const query = route.query ? parseOrThrow(route.query, ctx.query) : {};
  const headers: Record<string, unknown> = {};
  for (const header of declared) {
    const value = ctx.headers[header.key];
    if (value === undefined) {
      if (header.required) throw validationFailed([{ path: header.name, message: 'is required' }]);
      continue;
    }
    headers[header.key] = parseOrThrow(header.schema, ctx.get(header.name), [header.name]);
  }
  const body = route.body ? parseOrThrow(route.body, (await readJsonBody(ctx, route.bodyLimit)) ?? {}) : undefined;
  const raw = route.rawBody ? await readRawJsonBody(ctx, route.rawBody.limit) : undefined;
  return { principal: principal as never, params, query, body, headers, raw };
}
