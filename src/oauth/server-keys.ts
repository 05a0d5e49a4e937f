import { randomBytes } from 'node:crypto';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Knex } from 'knex';

import { inTransaction } from '../db/transaction.js';

export interface ServerKeys {
  /** Private signing keys for oidc-provider (ID tokens, JWT responses). */
  jwks: { keys: JWK[] };
  /** Keys that sign the provider's cookies; the first signs, all verify. */
  cookieKeys: string[];
}

// Any fixed number works; it only has to be the same in every process.
const SERVER_KEYS_LOCK = 727_274_001;

async function generateSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
}

/**
 * Loads the signing and cookie keys, generating and storing them on first
 * start, so a restart (or a second process) keeps sessions and tokens valid.
 * Keys given by the environment take precedence and are not stored.
 */
export async function loadServerKeys(
  db: Knex,
  fromEnvironment: { jwks?: { keys: Record<string, unknown>[] } | undefined; cookieKeys?: string[] | undefined } = {},
): Promise<ServerKeys> {
  const stored = await inTransaction(db, async (trx) => {
    // Serialises first starts, so concurrent processes agree on one set of keys.
    await trx.raw('select pg_advisory_xact_lock(?)', [SERVER_KEYS_LOCK]);
    const rows: { kind: string; material: { keys: unknown[] } }[] = await trx('server_keys')
      .select('kind', 'material')
      .orderBy('id');
    const byKind = new Map(rows.map((row) => [row.kind, row.material]));
    if (!fromEnvironment.jwks && !byKind.has('signing')) {
      const material = { keys: [await generateSigningKey()] };
      await trx('server_keys').insert({ kind: 'signing', material: JSON.stringify(material) });
      byKind.set('signing', material);
    }
    if (!fromEnvironment.cookieKeys && !byKind.has('cookie')) {
      const material = { keys: [randomBytes(32).toString('base64url')] };
      await trx('server_keys').insert({ kind: 'cookie', material: JSON.stringify(material) });
      byKind.set('cookie', material);
    }
    return byKind;
  });
  return {
    jwks: (fromEnvironment.jwks ?? stored.get('signing')) as { keys: JWK[] },
    cookieKeys: (fromEnvironment.cookieKeys ?? stored.get('cookie')?.keys) as string[],
  };
}
