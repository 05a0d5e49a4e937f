import { z } from 'zod';

import { DEFAULT_BODY_LIMIT } from './body.js';
import type { Answers, AnyRoute, HeaderUse, RouteResponse, Security } from './route.js';

/** A response header as the OpenAPI document describes it and the response guard checks it. */
export interface HeaderSpec {
  description: string;
  /** Its value (a header is text: numbers are coerced). */
  schema: z.ZodType;
  /** Whether an answer that names it always carries it; `always`/`sometimes` on a route may say otherwise. */
  required: boolean;
}

/**
 * The headers many answers carry, each described once (the document's
 * `components.headers`). A route names them in its answers by name.
 */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description: 'The id of this request, on every answer: quote it to support (a problem\'s `requestId` is the same).',
    schema: z.uuid(),
    required: true,
  },
  'Retry-After': { description: 'How many seconds to wait before trying again.', schema: z.coerce.number().int().min(1), required: true },
  RateLimit: {
    description:
      'Where the caller stands in a rate-limit policy (IETF httpapi ratelimit-headers, draft 09): `"<policy>";r=<requests left>;t=<seconds until the window resets>`. Policies: `key` (the API key\'s own limit), `failed-key-checks` (refused keys from this address).',
    schema: z.string().regex(/^"[a-z-]+";r=\d+;t=\d+$/),
    required: false,
  },
  'RateLimit-Policy': {
    description: 'The rate-limit policy the `RateLimit` header speaks of: `"<policy>";q=<requests per window>;w=<window in seconds>`.',
    schema: z.string().regex(/^"[a-z-]+";q=\d+;w=\d+$/),
    required: false,
  },
  'WWW-Authenticate': {
    description: 'An RFC 6750 Bearer challenge: `error` says what was wrong with the credentials (none sent: no `error`), `scope` the scope that was missing.',
    schema: z.string().regex(/^Bearer realm="[^"]*"/),
    required: true,
  },
  Location: { description: 'The path of the resource this answer created, e.g. `/api/v1/leads/{id}`.', schema: z.string().regex(/^\/api\/v1\/\S+$/), required: true },
  'Idempotent-Replayed': {
    description: '`true` when this is the stored answer to an earlier request with the same `Idempotency-Key` and body, replayed.',
    schema: z.literal('true'),
    required: false,
  },
  'Cache-Control': { description: 'How long the answer may be kept: `no-store` for one that holds a secret.', schema: z.string().min(1), required: true },
  Link: { description: 'The next page (RFC 8288, `rel="next"`), when there is one.', schema: z.string().regex(/^<\S+>; rel="next"$/), required: false },
} as const satisfies Record<string, HeaderSpec>;

export type SharedHeader = keyof typeof RESPONSE_HEADERS;

/**
 * Headers whose presence says something to the client: an answer that
 * carries one must declare it (the others, `Content-Type` or the security
 * headers every answer has, say nothing of the operation).
 */
export const TELLING_HEADERS: readonly SharedHeader[] = ['Retry-After', 'RateLimit', 'RateLimit-Policy', 'WWW-Authenticate', 'Location', 'Idempotent-Replayed', 'Link'];

const problemShape = {
  type: z.url().meta({ description: 'What kind of problem: `<PUBLIC_URL>/problems/<code>`.' }),
  title: z.string(),
  status: z.int().min(400).max(599),
  detail: z.string().optional(),
  errors: z
    .array(z.object({ path: z.string(), message: z.string() }))
    .optional()
    .meta({ description: 'Each field that broke a rule: where (`path`, dotted) and which rule.' }),
  requestId: z.string().optional(),
};

/** RFC 9457 problem details, as every error of /api/v1 answers (extension members allowed, as RFC 9457 says). */
export const problemSchema = z.looseObject(problemShape).meta({ id: 'Problem', description: 'RFC 9457 problem details.' });

/** A problem with exactly these extension members (`members`: the ones an answer declares), for the response guard. */
export function strictProblem(members: z.ZodObject | undefined): z.ZodObject {
  return z.object({ ...problemShape, ...(members?.shape ?? {}) });
}

/** What a kind of credential brings to the routes that take it. */
export interface SecurityKind {
  /** The OpenAPI security scheme: its name in `components.securitySchemes`, and its definition. */
  scheme: { name: string; definition: Record<string, unknown> };
  /** The scopes (or roles) a route's security requirement names. */
  scopes(route: AnyRoute): string[];
  /** What a route of this kind may answer because of its credentials (401, 403 for a scope, 429 ...). */
  answers(route: AnyRoute): Answers;
}

/** One per kind of credential a route may declare (like `Authenticators`). */
export type SecurityKinds = { [S in Exclude<Security, 'none'>]: SecurityKind };

/** One status of a route, all sources merged: what the document says and the response guard holds answers to. */
export interface Answer {
  description: string;
  /** A success body, by media type (none: an answer without a body, e.g. 204). */
  content: Record<string, z.ZodType>;
  /** An error: `application/problem+json`, with the extension members its sources declare (if any). */
  problem: { members: z.ZodObject | undefined } | undefined;
  headers: Record<string, ResolvedHeader>;
}

export interface ResolvedHeader {
  spec: HeaderSpec;
  required: boolean;
  /** A header of `RESPONSE_HEADERS` (a component of the document), or the route's own. */
  shared: boolean;
}

function sizeOf(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}

/**
 * What any route may answer because of what it declares, whatever its
 * module: bad input (400), an id (404), a body (413, 415), guards (403), the
 * database (503), a fault of ours (500), and `X-Request-Id` on every answer.
 */
function genericAnswers(route: AnyRoute): Answers {
  const responses: Record<number, RouteResponse> = {};
  const takesBody = Boolean(route.body || route.rawBody);
  if (takesBody || route.query || route.requestHeaders) {
    responses[400] = {
      description: takesBody
        ? 'The request is not valid: the body is not JSON, or `errors` names each field and the rule it breaks.'
        : 'The request is not valid: `errors` names each parameter and the rule it breaks.',
    };
  }
  if (route.params) responses[404] = { description: 'Nothing here: the id is unknown, malformed, or another facility\'s.' };
  if (takesBody) {
    responses[413] = { description: `The body is over ${sizeOf(route.rawBody?.limit ?? route.bodyLimit ?? DEFAULT_BODY_LIMIT)}.` };
    responses[415] = { description: 'The body is not JSON: send it with `Content-Type: application/json`.' };
  }
  if (route.guards?.length) responses[403] = { description: 'The caller may not do this: the operation needs a permission or a role the caller lacks.' };
  if (route.database !== false) {
    responses[503] = { description: 'The database cannot be reached right now: retry after `Retry-After` seconds.', headers: { 'Retry-After': 'always' } };
  }
  responses[500] = { description: 'Something went wrong on our side: quote the `requestId` to support.' };
  return { responses, headers: { 'X-Request-Id': 'always' } };
}

function specOf(route: AnyRoute, name: string, use: HeaderUse): ResolvedHeader {
  if (typeof use === 'object') return { spec: use, required: use.required, shared: false };
  const spec = (RESPONSE_HEADERS as Record<string, HeaderSpec>)[name];
  if (!spec) throw new Error(`route ${route.operationId}: "${name}" is not a shared response header (src/http/answers.ts RESPONSE_HEADERS); describe it in place`);
  return { spec, required: use === 'always', shared: true };
}

/** The members an error's sources add to a problem: a member some source lacks is optional. */
function problemMembers(route: AnyRoute, status: number, bodies: (z.ZodType | undefined)[]): z.ZodObject | undefined {
  const shapes = bodies.map((body) => {
    if (body && !(body instanceof z.ZodObject)) throw new Error(`route ${route.operationId}: the body of its ${status} must be a z.object of the members its problem adds`);
    return body?.shape ?? {};
  });
  const names = [...new Set(shapes.flatMap((shape) => Object.keys(shape)))];
  if (names.length === 0) return undefined;
  const merged: Record<string, z.ZodType> = {};
  for (const name of names) {
    const schema = shapes.find((shape) => shape[name])![name]!;
    merged[name] = shapes.every((shape) => shape[name]) ? schema : schema.optional();
  }
  return z.object(merged);
}

/** One status from all its sources (the route's own first): descriptions joined, a header required only if every source always sends it. */
function mergeStatus(route: AnyRoute, status: number, sources: RouteResponse[], everyAnswer: [string, HeaderUse][]): Answer {
  const headers: Record<string, ResolvedHeader> = {};
  const names = new Set(sources.flatMap((source) => Object.keys(source.headers ?? {})));
  for (const name of names) {
    const uses = sources.map((source) => source.headers?.[name]);
    const resolved = specOf(route, name, uses.find((use) => use !== undefined)!);
    headers[name] = { ...resolved, required: uses.every((use) => use !== undefined && specOf(route, name, use).required) };
  }
  for (const [name, use] of everyAnswer) {
    const resolved = specOf(route, name, use);
    headers[name] = { ...resolved, required: resolved.required || (headers[name]?.required ?? false) };
  }
  const error = status >= 400;
  const success = sources.find((source) => source.body || source.alternatives);
  return {
    description: [...new Set(sources.map((source) => source.description))].join(' Or: '),
    content: error || !success ? {} : { ...(success.body ? { 'application/json': success.body } : {}), ...success.alternatives },
    problem: error ? { members: problemMembers(route, status, sources.map((source) => source.body)) } : undefined,
    headers,
  };
}

/**
 * Every answer a route may give, by status: its own declared answers, those
 * its request headers and its kind of credential bring, and the generic ones
 * its declaration implies. The OpenAPI document is written from this, and
 * the response guard holds each answer to it.
 */
export function answersOf(route: AnyRoute, kinds: SecurityKinds): Map<number, Answer> {
  const sources: Answers[] = [
    { responses: route.responses },
    ...Object.values(route.requestHeaders ?? {}).flatMap((header) => (header.answers ? [header.answers] : [])),
    ...(route.security === 'none' ? [] : [kinds[route.security as Exclude<Security, 'none'>].answers(route)]),
    genericAnswers(route),
  ];
  const everyAnswer = sources.flatMap((source) => Object.entries(source.headers ?? {}));
  const statuses = [...new Set(sources.flatMap((source) => Object.keys(source.responses ?? {}).map(Number)))].sort((a, b) => a - b);
  return new Map(
    statuses.map((status) => [
      status,
      mergeStatus(
        route,
        status,
        sources.flatMap((source) => source.responses?.[status] ?? []),
        everyAnswer,
      ),
    ]),
  );
}
