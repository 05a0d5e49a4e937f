import { readFile } from 'node:fs/promises';
import path from 'node:path';

import Router from '@koa/router';

import { AppError } from '../http/errors.js';
import { renderApiReference } from './docs.js';

/** Built by `npm run build` (esbuild) into dist/console. */
const BUILD_DIR = path.resolve(import.meta.dirname, '../../console');

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/**
 * The web console: a single-page app and public OAuth client of /oauth,
 * served at /console. Every /console path answers the same page; the app
 * routes on the client.
 */
export function createConsoleRouter(deps: { openApiDocument: () => Record<string, unknown> }) {
  const cache = new Map<string, Buffer>();
  const load = async (file: string): Promise<Buffer> => {
    const cached = cache.get(file);
    if (cached) return cached;
    try {
      const content = await readFile(path.join(BUILD_DIR, file));
      cache.set(file, content);
      return content;
    } catch (error) {
      throw new AppError({ status: 503, code: 'console-not-built', title: 'Console not built', detail: 'Run npm run build.', cause: error });
    }
  };

  // Strict: "/console" and "/console/" are different paths here.
  const router = new Router({ strict: true });
  router.get('/', (ctx) => ctx.redirect('/console/'));
  // Browsers ask for it on every page: an empty answer, not a 404 in their console.
  router.get('/favicon.ico', (ctx) => {
    ctx.status = 204;
    ctx.set('Cache-Control', 'public, max-age=86400');
  });
  router.get('/console', (ctx) => ctx.redirect('/console/'));
  // The API reference, rendered from the OpenAPI document (the same one /api/v1/openapi.json serves).
  let reference: string | undefined;
  router.get('/docs', (ctx) => {
    reference ??= renderApiReference(deps.openApiDocument());
    ctx.type = 'html';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.body = reference;
  });
  router.get('/console/assets/:file', async (ctx) => {
    const type = ASSETS[ctx.params.file ?? ''];
    if (!type) return;
    ctx.type = type;
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = await load(`assets/${ctx.params.file}`);
  });
  router.get(/^\/console\/.*/, async (ctx) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.body = await load('index.html');
  });
  return router;
}
