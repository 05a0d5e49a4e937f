import type { KeyObject } from 'node:crypto';

import { z } from 'zod';

import { badRequest } from '../http/errors.js';
import { requestOrigin } from '../http/request-context.js';
import { defineRoute, type AnyRoute } from '../http/route.js';
import { parseOrThrow } from '../http/validation.js';
import { verifyReportSignature, type LeakedKeyReports } from './service.js';

/** Reports are up to this big: 1,000 findings with long URLs fit several times over. */
export const REPORT_LIMIT = 2 * 1024 * 1024;

const reportSchema = z
  .array(
    z.looseObject({
      token: z.string().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters'),
      type: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
      url: z.string().max(4096, 'must be at most 4096 characters').optional(),
      source: z.string().max(200, 'must be at most 200 characters').optional(),
    }),
    { error: 'must be a JSON array of findings' },
  )
  .max(10_000, 'must hold at most 10000 findings')
  .meta({ id: 'SecretScanningReport' });

const answerSchema = z.array(z.object({ token_hash: z.string(), token_type: z.string(), label: z.enum(['true_positive', 'false_positive']) }));

const signatureHeader = z.string().min(1).max(4096);

/**
 * POST /api/v1/secret-scanning/reports: GitHub's secret-scanning partner
 * program. Mounted only when the partner's public keys are configured;
 * otherwise the path is unknown (404), like any other.
 */
export function createSecretScanningRoutes(deps: { reports: LeakedKeyReports; keys: Map<string, KeyObject> | undefined }): AnyRoute[] {
  const { keys } = deps;
  if (!keys) return [];
  return [
    defineRoute({
      method: 'post',
      path: '/secret-scanning/reports',
      operationId: 'reportLeakedKeys',
      summary: 'Leaked-key reports from a secret-scanning partner (GitHub\'s format): live keys are revoked at once',
      description:
        'Signed: `Github-Public-Key-Identifier` names a configured public key, `Github-Public-Key-Signature` is a base64 DER ECDSA P-256 SHA-256 signature over the raw body. A bad or missing signature is 401 and changes nothing.',
      tag: 'Secret scanning',
      security: 'none',
      rawBody: { limit: REPORT_LIMIT, schema: reportSchema, description: 'A JSON array of `{ token, type, url, source }`.' },
      requestHeaders: {
        'Github-Public-Key-Identifier': { description: 'The identifier of the key that signed the report.', schema: signatureHeader },
        'Github-Public-Key-Signature': { description: 'Base64 DER ECDSA signature over the raw body.', schema: signatureHeader },
      },
      responses: {
        200: { description: 'One entry per finding, in order: the SHA-256 of the token, its type, and whether it was a live key of ours', body: answerSchema },
        401: { description: 'Missing or bad signature, or an unknown key identifier' },
      },
      async handle(ctx, { raw, headers }) {
        const identifier = headers['github-public-key-identifier'] as string | undefined;
        const signature = headers['github-public-key-signature'] as string | undefined;
        verifyReportSignature(keys, raw!, identifier ?? '', signature ?? '');
        let report: unknown;
        try {
          report = JSON.parse(raw!.toString('utf8'));
        } catch {
          throw badRequest('The request body is not valid JSON.');
        }
        ctx.body = await deps.reports.handle(parseOrThrow(reportSchema, report), requestOrigin(ctx));
      },
    }),
  ];
}
