import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { readJsonBody } from './body.js';
import { notFound, validationFailed } from './errors.js';
import { parseOrThrow } from './validation.js';
import type { PendingApiKeyState } from '../resource-server/api-key-auth.js';

type Method = 'get' | 'post' | 'put' | 'delete';

export interface RouteResponse {
  description: string;
  body?: z.ZodType;
  headers?: Record<string, string>;
}

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Declared request headers that were sent, validated, by lower-case name. */
  headers: Record<string, unknown>;
}

/**
 * One API route, declared once: the zod schemas here both validate requests
 * and generate the OpenAPI document, so the two cannot drift apart.
 */
export interface Route<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  /** Koa-style path below /api/v1, e.g. `/api-keys/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** Who may call it; the matching authenticator runs first. */
  security: 'staff' | 'apiKey' | 'none';
  /**
   * The handler checks the API key inside its own write when the server
   * allows it (`PendingApiKeyState`); otherwise the key is checked first.
   */
  checksApiKeyInWrite?: boolean;
  /** Guards declared on the route (permissions, roles), run after authentication. */
  guards?: Middleware[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  bodyLimit?: number;
  requestHeaders?: Record<string, { description: string; schema: z.ZodType; required?: boolean }>;
  responses: Record<number, RouteResponse>;
  handle(ctx: Context, input: RouteInput<P, Q, B>): Promise<void>;
}

/** Declares a route; inference gives `handle` typed input. */
export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  route: Route<P, Q, B>,
): Route<P, Q, B> {
  return route;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = Route<any, any, any>;

/**
 * Mounts routes on a router: authenticate, run the declared guards, parse and
 * validate params, query and body, then call the handler with typed input.
 * Handlers never read the raw request.
 */
export interface Authenticators {
  staff: Middleware;
  apiKey: Middleware;
  /** For routes that check the API key in their write; absent when keys are checked remotely. */
  apiKeyInWrite?: Middleware;
}

export function mountRoutes(router: Router, routes: AnyRoute[], authenticators: Authenticators): void {
  for (const route of routes) {
    const chain: Middleware[] = [];
    if (route.security === 'apiKey' && route.checksApiKeyInWrite && authenticators.apiKeyInWrite) {
      chain.push(authenticators.apiKeyInWrite);
    } else if (route.security !== 'none') {
      chain.push(authenticators[route.security]);
    }
    chain.push(...(route.guards ?? []));
    chain.push(async function validateAndHandle(ctx) {
      const input = await readInput(route, ctx).catch(async (error: unknown) => {
        // A key not checked yet is checked before any input error: a bad key is always 401/403.
        await (ctx.state as PendingApiKeyState).pendingApiKey?.authenticate();
        throw error;
      });
      await route.handle(ctx, input);
    });
    router[route.method](route.operationId, route.path, ...chain);
  }
}

/** Parses and validates a request's params, query, declared headers and body. */
async function readInput(route: AnyRoute, ctx: Context): Promise<RouteInput<unknown, unknown, unknown>> {
  // A malformed id names no resource: 404, exactly like an unknown one.
  if (route.params && !route.params.safeParse(ctx.params).success) throw notFound();
  const params = route.params ? route.params.parse(ctx.params) : {};
  const query = route.query ? parseOrThrow(route.query, ctx.query) : {};
  const headers: Record<string, unknown> = {};
  for (const [name, header] of Object.entries(route.requestHeaders ?? {})) {
    const value = ctx.get(name);
    if (ctx.headers[name.toLowerCase()] === undefined) {
      if (header.required) throw validationFailed([{ path: name, message: 'is required' }]);
      continue;
    }
    headers[name.toLowerCase()] = parseOrThrow(header.schema, value, [name]);
  }
  const body = route.body ? parseOrThrow(route.body, (await readJsonBody(ctx, route.bodyLimit)) ?? {}) : undefined;
  return { params, query, body, headers };
}
