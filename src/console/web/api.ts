import type { components, paths } from './api-schema.js';
import { currentSession, forgetSession } from './auth.js';

/**
 * The API's types come from its OpenAPI document: api-schema.d.ts is generated
 * by `npm run build` (src/console/generate-api-types.ts), so a route whose
 * path, body or answer changes fails the console's type check here.
 */
type Schemas = components['schemas'];
export type Me = Schemas['Me'];
export type StaffMember = Schemas['Staff'];
export type Scope = Schemas['Scope'];
export type ApiKey = Schemas['ApiKey'];
export type CreatedKey = Schemas['CreatedApiKey'];
export type KeyPolicy = Schemas['KeyPolicy'];
export type AuditEvent = Schemas['AuditEvent'];
export type KeyUsage = Schemas['ApiKeyUsage'];
export type UsageDay = KeyUsage['days'][number];
export type AuditQuery = NonNullable<paths['/audit-events']['get']['parameters']['query']>;
export type FacilityLocation = Schemas['Location'];
export type WebhookEndpoint = Schemas['WebhookEndpoint'];
export type EndpointWithSecret = Schemas['WebhookEndpointWithSecret'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
/** An event type an endpoint can ask for, or "*" for every one. */
export type WebhookEventChoice = Schemas['CreateWebhookEndpoint']['events'][number];

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/** The operation `method path` of the document (never when the path has no such method). */
type Operation<P extends keyof paths, M extends Method> = Exclude<paths[P][Lowercase<M>], undefined>;
type MethodOf<P extends keyof paths> = { [M in Method]: [Operation<P, M>] extends [never] ? never : M }[Method];
type Json<Response> = Response extends { content: { 'application/json': infer Body } } ? Body : undefined;
/** The JSON of the operation's success answer (200 or 201); undefined for 204. */
type Answer<O> = O extends { responses: infer R } ? Json<R[Extract<keyof R, 200 | 201 | 204>]> : never;
type Query<O> = O extends { parameters: { query?: infer Q } } ? Exclude<Q, undefined> : never;
type Options<O> = (O extends { parameters: { path: infer Params } } ? { path: Params } : { path?: never }) &
  (O extends { requestBody: { content: { 'application/json': infer Body } } } ? { body: Body } : { body?: never }) &
  ([Query<O>] extends [never] ? { query?: never } : { query?: Query<O> });
/** The options argument: required when the operation has path parameters or a body. */
type OptionsArgument<O> = object extends Options<O> ? [options?: Options<O>] : [options: Options<O>];

/** `/api/v1` + the path with its `{parameters}` filled in and the query appended. */
function apiUrl(path: string, options: { path?: object; query?: object } = {}): string {
  const parameters = (options.path ?? {}) as Record<string, string>;
  const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(parameters[name] ?? ''));
  const query = Object.entries(options.query ?? {}).filter(([, value]) => value !== undefined && value !== null);
  return `/api/v1${filled}${query.length ? `?${new URLSearchParams(query.map(([name, value]) => [name, String(value)]))}` : ''}`;
}

/**
 * An API failure, in words a gym owner can act on. `fields` holds each
 * field's message under its top name (`locationIds`) and, for a part of it,
 * under the API's own path too (`locationIds.1`), so a form can say which.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** For a delete: a target already gone (404) is what was asked, not a failure; anything else is thrown on. */
export function goneIsDone(error: unknown): void {
  if (!(error instanceof ApiError && error.status === 404)) throw error;
}

export const SESSION_EXPIRED = 'Your sign-in has expired. Please sign in again.';

function plainWords(status: number, problem: { detail?: string; title?: string } | undefined): string {
  if (status === 401) return SESSION_EXPIRED;
  if (status === 403) return problem?.detail ?? 'You do not have permission to do this.';
  if (status === 409 && problem?.detail) return problem.detail;
  if (status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
  return problem?.detail ?? problem?.title ?? `The request failed (${status}).`;
}

/** Downloads a CSV answer of /api/v1 as a file (the token stays in a header, never in a URL). */
export async function downloadCsv<P extends keyof paths>(path: P, query: Query<Operation<P, 'GET'>>, filename: string): Promise<void> {
  const session = currentSession();
  if (!session) throw new ApiError(401, SESSION_EXPIRED);
  const response = await fetch(apiUrl(path, { query }), { headers: { Authorization: `Bearer ${session.accessToken}`, Accept: 'text/csv' } });
  if (!response.ok) throw new ApiError(response.status, plainWords(response.status, undefined));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Calls `method path` of /api/v1 with the signed-in staff member's token, e.g.
 * `call('POST', '/api-keys/{id}/rotate', { path: { id }, body: { graceSeconds } })`.
 * Path parameters, query, body and answer are typed by the OpenAPI document.
 */
export async function call<P extends keyof paths, M extends MethodOf<P>>(
  method: M,
  path: P,
  ...[options]: OptionsArgument<Operation<P, M>>
): Promise<Answer<Operation<P, M>>> {
  type T = Answer<Operation<P, M>>;
  const { body, ...where } = (options ?? {}) as { path?: object; query?: object; body?: unknown };
  const session = currentSession();
  if (!session) throw new ApiError(401, SESSION_EXPIRED);
  let response: Response;
  try {
    response = await fetch(apiUrl(path, where), {
      method,
      headers: {
        Authorization: `Bearer ${session.accessToken}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  const answer: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    if (response.status === 401) forgetSession();
    const problem = answer as Partial<Schemas['Problem']> | undefined;
    const fields = Object.fromEntries(
      (problem?.errors ?? []).flatMap((error) => [[error.path, error.message], [error.path.split('.')[0] ?? error.path, error.message]]),
    );
    throw new ApiError(response.status, plainWords(response.status, problem), fields);
  }
  return answer as T;
}
