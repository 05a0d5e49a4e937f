import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';

import { defineRoute, type AnyRoute } from '../http/route.js';
import { requirePermission } from '../staff/authenticate.js';
import type { AuditEvent } from './model.js';
import { auditPageSchema, auditQuery } from './schemas.js';
import type { AuditLog } from './service.js';

/** An event as the API presents it. */
export function presentAuditEvent(event: AuditEvent) {
  return {
    id: event.id,
    occurredAt: event.occurredAt.toISOString(),
    action: event.action,
    actor: { type: event.actor.type, id: event.actor.type === 'staff' ? event.actor.id : null, name: event.actor.name ?? null },
    target: event.target,
    ip: event.origin.ip,
    userAgent: event.origin.userAgent,
    requestId: event.origin.requestId,
    details: event.details,
  };
}

const CSV_COLUMNS = ['id', 'occurredAt', 'action', 'actorType', 'actorId', 'actorName', 'targetType', 'targetId', 'targetName', 'ip', 'userAgent', 'requestId', 'details'];

const auditCsvSchema = z.string().meta({
  description: `The same rows as CSV, a header line first: ${CSV_COLUMNS.join(', ')} (\`details\` as JSON). Cells a spreadsheet would run as formulas are escaped.`,
});

/** The same rows as CSV (a well-kept writer: quoting, and cells that a spreadsheet would run as formulas are escaped). */
export function auditCsv(events: AuditEvent[]): string {
  const rows = events.map((event) => {
    const presented = presentAuditEvent(event);
    return [
      presented.id,
      presented.occurredAt,
      presented.action,
      presented.actor.type,
      presented.actor.id,
      presented.actor.name,
      presented.target?.type,
      presented.target?.id,
      presented.target?.name,
      presented.ip,
      presented.userAgent,
      presented.requestId,
      JSON.stringify(presented.details),
    ];
  });
  return stringify(rows, { header: true, columns: CSV_COLUMNS, escape_formulas: true });
}

/** GET /api/v1/audit-events: the facility's audit log. */
export function createAuditRoutes(deps: { audit: AuditLog }): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/audit-events',
      operationId: 'listAuditEvents',
      summary: 'The facility\'s audit log, newest first',
      description:
        'Needs the System Integrations permission (an Owner always has it). Cursor pagination: pass `nextCursor` as `cursor`. `Accept: text/csv` gives the same rows as CSV.',
      tag: 'Audit',
      security: 'staff',
      guards: [requirePermission('systemIntegrations')],
      query: auditQuery,
      responses: {
        200: {
          description: 'A page of events (as CSV with `Accept: text/csv`; its next page is the `Link` header).',
          body: auditPageSchema,
          alternatives: { 'text/csv': auditCsvSchema },
          headers: { Link: 'sometimes' },
        },
      },
      async handle(ctx, { principal, query }) {
        const page = await deps.audit.list(principal, query);
        if (ctx.accepts('json', 'text/csv') === 'text/csv') {
          ctx.type = 'text/csv; charset=utf-8';
          if (page.nextCursor) ctx.set('Link', `<${ctx.path}?${new URLSearchParams({ ...Object.fromEntries(Object.entries(ctx.query).filter(([, value]) => typeof value === 'string') as [string, string][]), cursor: page.nextCursor })}>; rel="next"`);
          ctx.body = auditCsv(page.items);
          return;
        }
        ctx.body = { items: page.items.map(presentAuditEvent), nextCursor: page.nextCursor };
      },
    }),
  ];
}
