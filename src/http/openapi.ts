import { z } from 'zod';

import { answersOf, problemSchema, RESPONSE_HEADERS, type Answer, type ResolvedHeader, type SecurityKind, type SecurityKinds } from './answers.js';
import type { AnyRoute, Security } from './route.js';

type JsonSchema = Record<string, unknown>;

/** What the document collects while its operations are written: schemas, headers and security schemes, by name. */
interface Components {
  schemas: Record<string, JsonSchema>;
  headers: Record<string, JsonSchema>;
  securitySchemes: Record<string, JsonSchema>;
}

/**
 * Converts a zod schema to a JSON Schema (2020-12, which OpenAPI 3.1 uses),
 * moving named sub-schemas (`.meta({ id })`) into `components.schemas`.
 * `inlineRoot`: a named schema itself is written in place (an object whose
 * properties become parameters), not as a reference.
 */
function toSchema(schema: z.ZodType, io: 'input' | 'output', components: Components, options: { inlineRoot?: boolean } = {}): JsonSchema {
  const converted = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  const { $schema: _dialect, $defs, ...root } = converted;
  const definitions = { ...(($defs ?? {}) as Record<string, JsonSchema>) };
  let rest = root;
  const rootName = typeof root.$ref === 'string' ? root.$ref.replace('#/$defs/', '') : undefined;
  if (options.inlineRoot && rootName && definitions[rootName]) {
    rest = definitions[rootName]!;
    delete definitions[rootName];
  }
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([key, inner]) => [
          key,
          key === '$ref' && typeof inner === 'string' ? inner.replace('#/$defs/', '#/components/schemas/') : rewrite(inner),
        ]),
      );
    }
    return value;
  };
  for (const [name, definition] of Object.entries(definitions)) components.schemas[name] = rewrite(definition) as JsonSchema;
  return rewrite(rest) as JsonSchema;
}

function objectProperties(schema: z.ZodType, components: Components): [string, JsonSchema, boolean][] {
  const json = toSchema(schema, 'input', components, { inlineRoot: true });
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => [name, property, required.has(name)]);
}

/** A response header: a reference to the shared one when it is used as described there, else written in place. */
function headerObject(name: string, header: ResolvedHeader, components: Components): JsonSchema {
  const definition = { description: header.spec.description, required: header.required, schema: toSchema(header.spec.schema, 'output', components) };
  if (!header.shared) return definition;
  const shared = RESPONSE_HEADERS[name as keyof typeof RESPONSE_HEADERS];
  components.headers[name] ??= { ...definition, required: shared.required };
  return header.required === shared.required ? { $ref: `#/components/headers/${name}` } : definition;
}

function responseObject(answer: Answer, components: Components): JsonSchema {
  const headers = Object.fromEntries(Object.entries(answer.headers).map(([name, header]) => [name, headerObject(name, header, components)]));
  const problem = { $ref: '#/components/schemas/Problem' };
  const content = answer.problem
    ? { 'application/problem+json': { schema: answer.problem.members ? { allOf: [problem, toSchema(answer.problem.members, 'input', components)] } : problem } }
    : Object.fromEntries(Object.entries(answer.content).map(([type, schema]) => [type, { schema: toSchema(schema, 'output', components) }]));
  return { description: answer.description, headers, ...(Object.keys(content).length ? { content } : {}) };
}

function parametersOf(route: AnyRoute, components: Components): JsonSchema[] {
  return [
    ...(route.params ? objectProperties(route.params, components).map(([name, schema]) => ({ name, in: 'path', required: true, schema })) : []),
    ...(route.query
      ? objectProperties(route.query, components).map(([name, schema, required]) => {
          // A parameter's description belongs to the parameter (and linters look for it there).
          const { description, ...rest } = schema;
          return { name, in: 'query', required, ...(description ? { description } : {}), schema: rest };
        })
      : []),
    ...Object.entries(route.requestHeaders ?? {}).map(([name, header]) => ({
      name,
      in: 'header',
      required: header.required ?? false,
      description: header.description,
      schema: toSchema(header.schema, 'input', components),
    })),
  ];
}

function requestBodyOf(route: AnyRoute, components: Components): JsonSchema | undefined {
  if (route.body) return { required: true, content: { 'application/json': { schema: toSchema(route.body, 'input', components) } } };
  if (route.rawBody) return { required: true, description: route.rawBody.description, content: { 'application/json': { schema: toSchema(route.rawBody.schema, 'input', components) } } };
  return undefined;
}

function operationOf(route: AnyRoute, kinds: SecurityKinds, components: Components): JsonSchema {
  const kind: SecurityKind | undefined = route.security === 'none' ? undefined : kinds[route.security as Exclude<Security, 'none'>];
  if (kind) components.securitySchemes[kind.scheme.name] ??= kind.scheme.definition;
  const parameters = parametersOf(route, components);
  const requestBody = requestBodyOf(route, components);
  const responses = Object.fromEntries([...answersOf(route, kinds)].map(([status, answer]) => [String(status), responseObject(answer, components)]));
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: kind ? [{ [kind.scheme.name]: kind.scopes(route) }] : [],
    ...(parameters.length ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
  };
}

export interface DocumentOptions {
  /** Where the server is reached: the default of the `publicUrl` server variable. */
  publicUrl: string;
  /** What each kind of credential brings (security scheme, answers). */
  kinds: SecurityKinds;
  /** Each tag's description: every route's tag needs one. */
  tags: Record<string, string>;
}

/**
 * The OpenAPI 3.1 document of the JSON API, generated from the routes' own
 * declarations: zod schemas for input and output, and every answer each
 * route may give (src/http/answers.ts), with its headers and media types.
 */
export function buildOpenApiDocument(routes: AnyRoute[], options: DocumentOptions): JsonSchema {
  const components: Components = { schemas: { Problem: {} }, headers: {}, securitySchemes: {} };
  components.schemas.Problem = toSchema(problemSchema, 'output', components, { inlineRoot: true });
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const tags = new Map<string, string>();
  for (const route of routes) {
    const description = options.tags[route.tag];
    if (!description) throw new Error(`route ${route.operationId}: its tag "${route.tag}" has no description (add it to the API's tags, src/api-routes.ts)`);
    tags.set(route.tag, description);
    (paths[route.path.replace(/:(\w+)/g, '{$1}')] ??= {})[route.method] = operationOf(route, options.kinds, components);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Octiv System Integrations API',
      version: '1.0.0',
      description:
        'Admin API (staff access tokens from /oauth) and the Leads API (API keys). Errors are RFC 9457 problem details (`application/problem+json`); every answer carries `X-Request-Id`.',
      license: { name: 'Proprietary: all rights reserved', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [
      {
        url: '{publicUrl}/api/v1',
        description: 'This server',
        variables: { publicUrl: { default: options.publicUrl, description: 'Where the server is reached (its PUBLIC_URL).' } },
      },
    ],
    tags: [...tags].map(([name, description]) => ({ name, description })),
    paths,
    components,
  };
}
