import { verify, type KeyObject } from 'node:crypto';

import { isWellFormedKey } from '../api-keys/key-format.js';
import type { ApiKeyService } from '../api-keys/service.js';
import type { ApiKeyStore } from '../api-keys/store.js';
import type { ApiKeyVerifier, Requirement } from '../api-keys/verifier.js';
import type { RequestOrigin } from '../audit/model.js';
import { AppError } from '../http/errors.js';
import { hashToken } from '../shared/token-hash.js';

/** One finding of a secret-scanning report (GitHub's partner program format). */
export interface ReportItem {
  token: string;
  type: string;
  url?: string | undefined;
  source?: string | undefined;
}

export interface ReportAnswer {
  token_hash: string;
  token_type: string;
  label: 'true_positive' | 'false_positive';
}

const unauthorized = (detail: string) => new AppError({ status: 401, code: 'bad-signature', title: 'Signature not accepted', detail });

/**
 * Checks a report's signature (ECDSA P-256 with SHA-256 over the raw body,
 * base64 DER) against the partner's public key named by its identifier,
 * before anything in the body is read.
 */
export function verifyReportSignature(keys: Map<string, KeyObject>, raw: Buffer, keyIdentifier: string, signature: string): void {
  const key = keys.get(keyIdentifier);
  if (!key) throw unauthorized('The Github-Public-Key-Identifier names no key we know.');
  let valid = false;
  try {
    valid = verify('sha256', raw, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) throw unauthorized('The Github-Public-Key-Signature does not verify the body.');
}

/**
 * Leaked-key reports: each live key found in public is revoked at once, both
 * of its secrets, through the same function as a delete (actor "secret
 * scanning", reason "leaked", where it was found), which also writes the
 * `api_key.revoked_leaked` event. A report repeated changes nothing more.
 *
 * Labels: `true_positive` for a key of ours that was live, or that an earlier
 * report already revoked as leaked; `false_positive` for anything else (not
 * ours, malformed, deleted, expired, revoked for another reason, a secret
 * that no longer worked).
 */
export function createLeakedKeyReports(deps: { apiKeys: ApiKeyService; store: ApiKeyStore; verifier: ApiKeyVerifier; requirement: Requirement }) {
  const { apiKeys, store, verifier, requirement } = deps;

  return {
    async handle(items: ReportItem[], origin: RequestOrigin): Promise<ReportAnswer[]> {
      const hashes = items.map((item) => hashToken(item.token));
      // One look-up for the whole report: only our own secrets go further.
      const ours = await store.findBySecrets(hashes.filter((hash, index) => isWellFormedKey(items[index]!.token)));
      const revokedNow = new Set<string>();
      const answers: ReportAnswer[] = [];
      for (const [index, item] of items.entries()) {
        const hash = hashes[index]!;
        const secret = isWellFormedKey(item.token) ? ours.get(hash) : undefined;
        let leaked = secret?.revokedReason === 'leaked' || (secret !== undefined && revokedNow.has(secret.keyId));
        if (secret && !leaked && (await verifier.verifyHash(hash, requirement)).ok) {
          await apiKeys.end(
            { facilityId: null, id: secret.keyId },
            {
              kind: 'revoked',
              actor: { type: 'secret-scanning', name: 'secret scanning' },
              reason: 'leaked',
              details: { url: item.url ?? null, source: item.source ?? null, type: item.type },
              origin,
            },
          );
          revokedNow.add(secret.keyId);
          leaked = true;
        }
        answers.push({ token_hash: hash, token_type: item.type, label: leaked ? 'true_positive' : 'false_positive' });
      }
      return answers;
    },
  };
}

export type LeakedKeyReports = ReturnType<typeof createLeakedKeyReports>;
