/**
 * The layers of src/, checked in CI (`npm run lint:deps`, dependency-cruiser).
 * Bottom to top: shared/ (names and types several layers share), config and
 * logger; db/ (the database, the fast path, transactions); http/ (errors,
 * routes, validation: knows nothing of staff, keys or audit); the modules
 * (audit, facilities, staff, api-keys, leads, webhooks, ...); oauth/ and
 * resource-server/ around them; services.ts (the one composition root),
 * app.ts (HTTP only), main.ts and cli.ts on top. Type imports count too.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: split the shared part into a lower module (shared/ for names and types).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-is-a-leaf',
      severity: 'error',
      comment: 'shared/ holds names and types every layer may use; it imports nothing of ours but itself.',
      from: { path: '^src/shared/' },
      to: { path: '^src/', pathNot: '^src/shared/' },
    },
    {
      name: 'config-and-logger-low',
      severity: 'error',
      comment: 'config.ts and logger.ts are read by every layer; they depend on shared/ at most.',
      from: { path: '^src/(config|logger)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(shared/|config\\.ts$|logger\\.ts$)' },
    },
    {
      name: 'db-below-the-modules',
      severity: 'error',
      comment: 'db/ is the database layer: it knows no module, route or service.',
      from: { path: '^src/db/' },
      to: { path: '^src/', pathNot: '^src/(db/|shared/|config\\.ts$|logger\\.ts$)' },
    },
    {
      name: 'http-knows-no-module',
      severity: 'error',
      comment: 'http/ (errors, routes, validation) knows nothing of staff, resource servers, keys or audit: authenticators plug in from above.',
      from: { path: '^src/http/' },
      to: { path: '^src/', pathNot: '^src/(http/|db/|shared/|config\\.ts$|logger\\.ts$)' },
    },
    {
      name: 'audit-below-staff-and-keys',
      severity: 'error',
      comment: 'The audit log is recorded by every module: its model, service and store import none of them.',
      from: { path: '^src/audit/(model|service|store)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(audit/|http/|db/|shared/|config\\.ts$|logger\\.ts$)' },
    },
    {
      name: 'stores-store',
      severity: 'error',
      comment: 'A store is the SQL of its own tables: it imports no service, route or scheduler.',
      from: { path: 'store\\.ts$' },
      to: { path: '(service|routes|auth|app|services|main|cli)\\.ts$' },
    },
    {
      name: 'knex-only-in-stores-and-db',
      severity: 'error',
      comment: 'Queries live in stores (and db/, migrations, seeds); services may name the Knex type to open a transaction.',
      from: { path: '^src/', pathNot: '^src/db/|store\\.ts$|^src/services\\.ts$' },
      to: { path: '^node_modules/knex/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'the-top-is-not-imported',
      severity: 'error',
      comment: 'Only the entry points build the app and the services: nothing below imports them.',
      from: { path: '^src/', pathNot: '^src/(app|main|cli|services)\\.ts$|^src/operator/|^src/console/generate' },
      to: { path: '^src/(app|main|cli|services)\\.ts$' },
    },
    {
      name: 'routes-are-not-imported-by-services',
      severity: 'error',
      comment: 'Routes sit on services; a service or store never imports a routes file.',
      from: { path: '(service|store)\\.ts$' },
      to: { path: 'routes\\.ts$' },
    },
    {
      name: 'the-browser-bundle-apart',
      severity: 'error',
      comment: 'src/console/web is the browser console (its own bundle): it shares types only through the generated OpenAPI types, and the server never imports it.',
      from: { path: '^src/console/web/' },
      to: { path: '^src/', pathNot: '^src/console/web/' },
    },
    {
      name: 'the-server-does-not-import-the-browser',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/console/web/' },
      to: { path: '^src/console/web/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'], conditionNames: ['import', 'require', 'node', 'default'] },
    exclude: { path: 'api-schema\.d\.ts$' },
  },
};
