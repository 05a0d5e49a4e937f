import { z } from 'zod';

import type { AnyRoute } from './route.js';

type JsonSchema = Record<string, unknown>;

const problemSchema: JsonSchema = {
  type: 'object',
  description: 'RFC 9457 problem details.',
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } }, required: ['path', 'message'] },
    },
    requestId: { type: 'string' },
  },
  required: ['type', 'title', 'status'],
};

/**
 * Converts a zod schema to a JSON Schema (2020-12, which OpenAPI 3.1 uses),
 * moving named sub-schemas (`.meta({ id })`) into `components.schemas`.
 */
function toSchema(schema: z.ZodType, io: 'input' | 'output', components: Record<string, JsonSchema>): JsonSchema {
  const converted = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  const { $schema: _dialect, $defs, ...rest } = converted;
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
  for (const [name, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
    components[name] = rewrite(definition) as JsonSchema;
  }
  return rewrite(rest) as JsonSchema;
}

function objectProperties(schema: z.ZodType, components: Record<string, JsonSchema>): [string, JsonSchema, boolean][] {
  const converted = toSchema(schema, 'input', components);
  // A named object (`.meta({ id })`) converts to a $ref to itself: its properties are in the component.
  const json = typeof converted.$ref === 'string' ? (components[converted.$ref.replace('#/components/schemas/', '')] ?? converted) : converted;
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => [name, property, required.has(name)]);
}

/** The OpenAPI 3.1 document of the JSON API, generated from the routes' own zod schemas. */
export function buildOpenApiDocument(routes: AnyRoute[], options: { publicUrl: string; issuer: string; adminApiResource: string }): JsonSchema {
  const components: Record<string, JsonSchema> = { Problem: problemSchema };
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const parameters = [
      ...(route.params ? objectProperties(route.params, components).map(([name, schema]) => ({ name, in: 'path', required: true, schema })) : []),
      ...(route.query ? objectProperties(route.query, components).map(([name, schema, required]) => ({ name, in: 'query', required, schema })) : []),
      ...Object.entries(route.requestHeaders ?? {}).map(([name, header]) => ({
        name,
        in: 'header',
        required: header.required ?? false,
        description: header.description,
        schema: toSchema(header.schema, 'input', components),
      })),
    ];
    const responses: Record<string, JsonSchema> = {};
    for (const [status, response] of Object.entries(route.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.body
          ? { content: { 'application/json': { schema: toSchema(response.body, 'output', components) } } }
          : Number(status) >= 400
            ? { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } }
            : {}),
      };
    }
    const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
    if (route.body) responses['400'] ??= problem('Invalid input: `errors` names each field and rule');
    if (route.security !== 'none') responses['401'] ??= problem('Missing, invalid or expired credentials');
    if (route.guards?.length || route.security === 'apiKey') responses['403'] ??= problem('Not allowed');
    if (route.params) responses['404'] ??= problem('No such resource in your facility');
    (paths[path] ??= {})[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      security: route.security === 'none' ? [] : [{ [route.security === 'staff' ? 'staffToken' : 'apiKey']: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(route.body, 'input', components) } } } }
        : route.rawBody
          ? { requestBody: { required: true, description: route.rawBody.description, content: { 'application/json': { schema: toSchema(route.rawBody.schema, 'input', components) } } } }
          : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Octiv System Integrations API',
      version: '1.0.0',
      description: 'Admin API (staff access tokens from /oauth) and the Leads API (API keys). Errors are RFC 9457 problem details.',
    },
    servers: [{ url: `${options.publicUrl}/api/v1` }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        staffToken: {
          type: 'oauth2',
          description: 'A staff access token: authorization code + PKCE at /oauth with scope `admin` and resource `' + options.adminApiResource + '`.',
          flows: {
            authorizationCode: {
              authorizationUrl: `${options.issuer}/auth`,
              tokenUrl: `${options.issuer}/token`,
              scopes: { admin: 'Use the admin API' },
            },
          },
        },
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer oct_pat_...`.' },
      },
    },
  };
}
