import { Stream } from 'node:stream';

import type { Context, Next } from 'koa';
import type { z } from 'zod';

import { answersOf, strictProblem, TELLING_HEADERS, type Answer, type SecurityKinds } from './answers.js';
import type { RequestState } from './request-context.js';
import type { AnyRoute } from './route.js';

/** A route's answers, with each problem's schema made once. */
interface Checked {
  route: AnyRoute;
  answers: Map<number, Answer>;
  problems: Map<number, z.ZodObject>;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Where `sent` holds a member the schema does not declare (zod dropped it from `kept`). */
function undeclaredMembers(sent: unknown, kept: unknown, path = ''): string[] {
  if (Array.isArray(sent) && Array.isArray(kept)) return sent.flatMap((item, index) => undeclaredMembers(item, kept[index], `${path}[${index}]`));
  if (!isObject(sent) || !isObject(kept)) return [];
  return Object.keys(sent).flatMap((key) => {
    const at = path ? `${path}.${key}` : key;
    return key in kept ? undeclaredMembers(sent[key], kept[key], at) : [at];
  });
}

function headerMismatches(answer: Answer, ctx: Context): string[] {
  const found: string[] = [];
  for (const [name, header] of Object.entries(answer.headers)) {
    const value = ctx.response.get(name);
    if (!value) {
      if (header.required) found.push(`header ${name} is declared on every ${ctx.status} but missing`);
    } else if (!header.spec.schema.safeParse(value).success) {
      found.push(`header ${name} is not as declared: ${JSON.stringify(value)}`);
    }
  }
  for (const name of TELLING_HEADERS) {
    if (!answer.headers[name] && ctx.response.get(name)) found.push(`header ${name} is sent but not declared on ${ctx.status}`);
  }
  return found;
}

function schemaMismatches(schema: z.ZodType, body: unknown, what: string): string[] {
  // What the client gets is JSON: check that (dates as strings, undefined members gone).
  const sent: unknown = typeof body === 'string' ? body : JSON.parse(JSON.stringify(body)) as unknown;
  const parsed = schema.safeParse(sent);
  if (!parsed.success) return parsed.error.issues.map((issue) => `${what}: ${issue.path.join('.') || '(the body)'}: ${issue.message}`);
  return undeclaredMembers(sent, parsed.data).map((path) => `${what}: ${path} is not declared`);
}

function bodyMismatches(checked: Checked, answer: Answer, ctx: Context): string[] {
  const type = ctx.response.type;
  const body: unknown = ctx.body;
  if (answer.problem) {
    if (type !== 'application/problem+json') return [`an error must be application/problem+json, not ${type || 'without a type'}`];
    const found = schemaMismatches(checked.problems.get(ctx.status)!, body, 'the problem');
    if (isObject(body) && body.status !== ctx.status) found.push(`the problem's status ${String(body.status)} is not the answer's ${ctx.status}`);
    return found;
  }
  const declared = Object.keys(answer.content);
  if (declared.length === 0) return body == null ? [] : [`a body (${type}), but ${ctx.status} declares none`];
  const schema = answer.content[type];
  if (!schema) return [`content type ${type || '(none)'} is not declared on ${ctx.status} (declared: ${declared.join(', ')})`];
  // A stream or a buffer is sent as it is: its type is all there is to check.
  if (body instanceof Stream || Buffer.isBuffer(body)) return [];
  return schemaMismatches(schema, body, 'the body');
}

/**
 * Holds every answer of an /api/v1 route to what the route declares (the
 * same answers the OpenAPI document lists, src/http/answers.ts): its status,
 * its content type, its body (parsed by the declared schema; a member the
 * schema does not name counts too), and its headers. An answer that differs
 * is replaced by a 500, with a log line naming the route and each mismatch,
 * so a test that provokes it fails: Logto's koaGuard does the same for
 * output. Mounted just outside the error handler, it sees answers as sent.
 * For tests and development (`OPENAPI_GUARD=on`): it parses every answer.
 */
export function createResponseGuard(options: { routes: AnyRoute[]; kinds: SecurityKinds; problemBaseUrl: string }) {
  const byOperation = new Map<string, Checked>();
  for (const route of options.routes) {
    const answers = answersOf(route, options.kinds);
    const problems = new Map([...answers].flatMap(([status, answer]) => (answer.problem ? [[status, strictProblem(answer.problem.members)] as const] : [])));
    byOperation.set(route.operationId, { route, answers, problems });
  }
  return async function guardResponses(ctx: Context, next: Next): Promise<void> {
    await next();
    // @koa/router names the route it matched: routes are mounted under their operationId.
    const checked = byOperation.get((ctx as { _matchedRouteName?: string })._matchedRouteName ?? '');
    if (!checked) return;
    const answer = checked.answers.get(ctx.status);
    const mismatches = answer
      ? [...headerMismatches(answer, ctx), ...bodyMismatches(checked, answer, ctx)]
      : [`status ${ctx.status} is not declared (declared: ${[...checked.answers.keys()].join(', ')})`];
    if (mismatches.length === 0) return;
    const { route } = checked;
    const state = ctx.state as RequestState;
    state.log.error({ operationId: route.operationId, route: `${route.method.toUpperCase()} ${route.path}`, status: ctx.status, mismatches }, 'an answer its route does not declare: sent as a 500');
    if (ctx.headerSent) return;
    for (const name of TELLING_HEADERS) ctx.remove(name);
    ctx.status = 500;
    ctx.type = 'application/problem+json';
    ctx.body = {
      type: `${options.problemBaseUrl}/internal`,
      title: 'Internal server error',
      status: 500,
      detail: 'Something went wrong on our side. Quote the request id if you contact support.',
      requestId: state.requestId,
    };
  };
}
