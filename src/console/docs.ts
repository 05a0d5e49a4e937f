import { escapeHtml } from '../http/html.js';

type Json = Record<string, unknown>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** A schema's properties as rows: name, type, required, and what the schema says of it. */
function fieldRows(schema: Json | undefined, components: Json, prefix = ''): string[] {
  const resolved = resolve(schema, components);
  const properties = (resolved?.properties ?? {}) as Record<string, Json>;
  const required = new Set((resolved?.required ?? []) as string[]);
  return Object.entries(properties).flatMap(([name, property]) => {
    const field = resolve(property, components) ?? {};
    const row = `<tr><td><code>${escapeHtml(prefix + name)}</code></td><td>${escapeHtml(typeOf(field, components))}</td><td>${required.has(name) ? 'yes' : 'no'}</td><td>${escapeHtml(describe(field))}</td></tr>`;
    const nested = field.type === 'object' && field.properties ? fieldRows(field, components, `${prefix}${name}.`) : [];
    return [row, ...nested];
  });
}

function resolve(schema: Json | undefined, components: Json): Json | undefined {
  if (!schema) return undefined;
  const ref = schema.$ref;
  if (typeof ref === 'string') return resolve(((components.schemas ?? {}) as Record<string, Json>)[ref.split('/').pop() ?? ''], components);
  if (Array.isArray(schema.anyOf)) {
    const concrete = (schema.anyOf as Json[]).find((option) => option.type !== 'null');
    return concrete ? { ...resolve(concrete, components), nullable: true, description: schema.description } : schema;
  }
  return schema;
}

function typeOf(schema: Json, components: Json): string {
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map(String).join(' | ');
  const type = Array.isArray(schema.type) ? (schema.type as string[]).join(' | ') : String(schema.type ?? 'value');
  if (type === 'array') return `list of ${typeOf(resolve(schema.items as Json, components) ?? {}, components)}`;
  return `${type}${schema.format ? ` (${String(schema.format)})` : ''}${schema.nullable ? ' or null' : ''}`;
}

function describe(schema: Json): string {
  const limits = [
    schema.minLength !== undefined && schema.maxLength !== undefined ? `${String(schema.minLength)} to ${String(schema.maxLength)} characters` : schema.maxLength !== undefined ? `up to ${String(schema.maxLength)} characters` : '',
    schema.minimum !== undefined && schema.maximum !== undefined ? `${String(schema.minimum)} to ${String(schema.maximum)}` : '',
  ].filter(Boolean);
  return [typeof schema.description === 'string' ? schema.description : '', ...limits].filter(Boolean).join('. ');
}

/**
 * The human-readable API reference at /docs: rendered on the server from the
 * same OpenAPI document as /api/v1/openapi.json (so the two never differ),
 * as a plain page under the console's Content-Security-Policy (no script).
 */
export function renderApiReference(document: Json): string {
  const components = (document.components ?? {}) as Json;
  const info = (document.info ?? {}) as Json;
  const server = (document.servers as Json[] | undefined)?.[0];
  const variables = (server?.variables ?? {}) as Record<string, { default?: string }>;
  // The server's URL with its variables (the public URL) at their defaults, as a client would call it.
  const base = String(server?.url ?? '').replace(/\{(\w+)\}/g, (_, name: string) => variables[name]?.default ?? '');
  const operations: string[] = [];
  const index: string[] = [];
  for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      const id = String(operation.operationId);
      index.push(`<li><a href="#${escapeHtml(id)}"><code>${method.toUpperCase()} ${escapeHtml(path)}</code></a> ${escapeHtml(String(operation.summary ?? ''))}</li>`);
      const security = (operation.security as Json[] | undefined)?.flatMap((entry) => Object.keys(entry)) ?? [];
      const parameters = (operation.parameters ?? []) as Json[];
      const body = ((operation.requestBody as Json | undefined)?.content as Json | undefined)?.['application/json'] as Json | undefined;
      const responses = Object.entries((operation.responses ?? {}) as Record<string, Json>);
      operations.push(`<section class="card op" id="${escapeHtml(id)}">
<h2><code>${method.toUpperCase()} ${escapeHtml(base + path)}</code></h2>
<p><strong>${escapeHtml(String(operation.summary ?? ''))}</strong></p>
${operation.description ? `<p>${escapeHtml(String(operation.description))}</p>` : ''}
<p class="muted">${security.length === 0 ? 'No credentials.' : security.includes('apiKey') ? 'An API key: <code>Authorization: Bearer oct_pat_…</code>' : 'A staff access token: <code>Authorization: Bearer …</code>'}</p>
${parameters.length ? `<h3>Parameters</h3><table><thead><tr><th scope="col">Name</th><th scope="col">In</th><th scope="col">Required</th><th scope="col">About</th></tr></thead><tbody>${parameters.map((parameter) => `<tr><td><code>${escapeHtml(String(parameter.name))}</code></td><td>${escapeHtml(String(parameter.in))}</td><td>${parameter.required ? 'yes' : 'no'}</td><td>${escapeHtml(describe({ ...(resolve(parameter.schema as Json, components) ?? {}), description: parameter.description }))}</td></tr>`).join('')}</tbody></table>` : ''}
${body ? `<h3>Request body (JSON)</h3><table><thead><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Required</th><th scope="col">About</th></tr></thead><tbody>${fieldRows(body.schema as Json, components).join('')}</tbody></table>` : ''}
<h3>Answers</h3><ul>${responses.map(([status, response]) => `<li><strong>${escapeHtml(status)}</strong>: ${escapeHtml(String(response.description ?? ''))}</li>`).join('')}</ul>
</section>`);
    }
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference · Octiv</title>
<link rel="stylesheet" href="/console/assets/app.css">
</head>
<body>
<header class="top"><span class="brand">Octiv</span><nav aria-label="Documents"><a href="/console/">Console</a><a href="/api/v1/openapi.json">OpenAPI document</a></nav></header>
<main id="main" class="docs">
<h1>${escapeHtml(String(info.title ?? 'API reference'))}</h1>
<p>${escapeHtml(String(info.description ?? ''))} Every error carries a <code>requestId</code> to quote to support.</p>
<nav aria-label="Operations" class="card"><ul class="ops">${index.join('')}</ul></nav>
${operations.join('\n')}
</main>
</body>
</html>`;
}
