/**
 * Build step (`npm run api-types`, run by `npm run build` and `npm run
 * typecheck`): writes the OpenAPI document of /api/v1 to dist/openapi.json,
 * and the console's types generated from it by openapi-typescript to
 * src/console/web/api-schema.d.ts (not committed). No server and no
 * database: the routes are declared with services that throw if anything
 * touches them (only handlers call services).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';

import { apiDocument, apiRoutes, type ApiRouteServices } from '../api-routes.js';
import { loadConfig } from '../config.js';

// npm runs scripts in the checkout's root (this file runs bundled from dist/tools, see the `api-types` script).
const DOCUMENT_FILE = path.resolve('dist/openapi.json');
const TYPES_FILE = path.resolve('src/console/web/api-schema.d.ts');

/** Services that only exist to be passed: any use of one fails the build, naming it. */
const inertServices = new Proxy({} as ApiRouteServices, {
  get: (_services, service) =>
    new Proxy({}, {
      get: (_inert, member) => {
        throw new Error(`Declaring the /api/v1 routes used ${String(service)}.${String(member)}: route declarations may call services only in handlers.`);
      },
    }),
});

/** The whole API (secret scanning included, as if configured), at the development defaults' URLs. */
function openApiDocument(): Record<string, unknown> {
  const config = { ...loadConfig({}), secretScanningKeys: new Map() };
  return apiDocument(apiRoutes(inertServices, config), config);
}

/** Writes `file` only when its content changes (an unchanged file keeps its time stamp for editors and watchers). */
async function writeIfChanged(file: string, content: string): Promise<void> {
  if ((await readFile(file, 'utf8').catch(() => undefined)) === content) return;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

async function main(): Promise<void> {
  const document = openApiDocument();
  const types = astToString(await openapiTS(document as unknown as OpenAPI3, { defaultNonNullable: false }));
  await writeIfChanged(DOCUMENT_FILE, `${JSON.stringify(document, null, 2)}\n`);
  await writeIfChanged(TYPES_FILE, `// Generated from the OpenAPI document by src/console/generate-api-types.ts (npm run build). Not committed.\n${types}`);
}

await main();
