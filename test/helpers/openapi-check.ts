import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';

import { TELLING_HEADERS } from '../../src/http/answers.js';

// ajv-formats is CommonJS: under ESM its default export is the module, whose `default` is the plugin.
const addFormats = formats.default;

type Json = Record<string, any>;

/** An answer as a client saw it, for the operation `method template`. */
export interface SeenAnswer {
  method: string;
  /** The path as the document writes it, e.g. `/leads/{id}`. */
  template: string;
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Holds answers to an OpenAPI 3.1 document as a client generated from it
 * would: the status is listed for the operation, the content type is one it
 * lists, the body validates against its JSON Schema (ajv, draft 2020-12,
 * which OpenAPI 3.1 uses, formats included), every required header is
 * there and every header sent is as described; a header that says
 * something (Retry-After, Location ...) is sent only where it is listed.
 */
export function createDocumentChecker(document: Json) {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  // The document's schemas, as the `$defs` of each schema compiled here.
  const rewrite = (schema: unknown) => JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/', '#/$defs/')) as Json;
  const definitions = rewrite(document.components?.schemas ?? {});
  const compiled = new Map<string, ValidateFunction>();
  const validatorOf = (key: string, schema: Json): ValidateFunction => {
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile({ ...rewrite(schema), $defs: definitions });
      compiled.set(key, validate);
    }
    return validate;
  };
  const headerOf = (header: Json): Json => (header.$ref ? document.components.headers[String(header.$ref).split('/').pop()!] : header);

  function headerProblems(key: string, response: Json, seen: SeenAnswer): string[] {
    const problems: string[] = [];
    const declared = Object.fromEntries(Object.entries((response.headers ?? {}) as Record<string, Json>).map(([name, header]) => [name.toLowerCase(), { name, header: headerOf(header) }]));
    for (const { name, header } of Object.values(declared)) {
      const value = seen.headers.get(name);
      if (value === null) {
        if (header.required) problems.push(`header ${name} is required but missing`);
        continue;
      }
      const typed = header.schema?.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
      const validate = validatorOf(`${key} header ${name}`, header.schema ?? {});
      if (!validate(typed)) problems.push(`header ${name} ${JSON.stringify(value)}: ${ajv.errorsText(validate.errors)}`);
    }
    for (const name of TELLING_HEADERS) {
      if (!declared[name.toLowerCase()] && seen.headers.get(name) !== null) problems.push(`header ${name} is sent but not listed`);
    }
    return problems;
  }

  function bodyProblems(key: string, response: Json, seen: SeenAnswer): string[] {
    const content = (response.content ?? {}) as Record<string, Json>;
    const type = (seen.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (Object.keys(content).length === 0) return seen.text === '' ? [] : [`a body (${type}), but none is listed`];
    const media = content[type];
    if (!media) return [`content type ${type || '(none)'} is not listed (listed: ${Object.keys(content).join(', ')})`];
    const body: unknown = type.endsWith('json') ? JSON.parse(seen.text) : seen.text;
    const validate = validatorOf(`${key} ${type}`, media.schema ?? {});
    return validate(body) ? [] : [`the ${type} body: ${ajv.errorsText(validate.errors, { separator: '; ' })}`];
  }

  return {
    /** What in `seen` the document does not say (nothing: an empty list), and the media type it was held to. */
    check(seen: SeenAnswer): { problems: string[]; mediaType: string } {
      const operation = document.paths?.[seen.template]?.[seen.method.toLowerCase()] as Json | undefined;
      const mediaType = (seen.headers.get('content-type') ?? '').split(';')[0]!.trim();
      if (!operation) return { problems: [`no operation ${seen.method} ${seen.template} in the document`], mediaType };
      const response = operation.responses?.[String(seen.status)] as Json | undefined;
      if (!response) return { problems: [`${seen.status} is not listed for ${operation.operationId}`], mediaType };
      const key = `${operation.operationId} ${seen.status}`;
      return { problems: [...headerProblems(key, response, seen), ...bodyProblems(key, response, seen)], mediaType };
    },
    /** Every `METHOD template status media-type` the document lists (media type empty for an answer without a body). */
    listed(): string[] {
      return Object.entries(document.paths as Record<string, Record<string, Json>>).flatMap(([template, operations]) =>
        Object.entries(operations).flatMap(([method, operation]) =>
          Object.entries(operation.responses as Record<string, Json>).flatMap(([status, response]) => {
            const types = Object.keys(response.content ?? {});
            return (types.length ? types : ['']).map((type) => `${method.toUpperCase()} ${template} ${status} ${type}`.trimEnd());
          }),
        ),
      );
    },
  };
}
