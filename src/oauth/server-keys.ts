import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Knex } from 'knex';

import type { Config } from '../config.js';
import { inTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import { isSealed, seal, unseal, type Sealed } from '../shared/sealed.js';

export interface ServerKeys {
  /** Private signing keys for oidc-provider (ID tokens, JWT responses). */
  jwks: { keys: JWK[] };
  /** Keys that sign the provider's cookies; the first signs, all verify. */
  cookieKeys: string[];
}

// Any fixed number works; it only has to be the same in every process.
const SERVER_KEYS_LOCK = 727_274_001;

type Material = { keys: unknown[] };

/** The AES key that seals stored key material: from the secrets key, which never lives in the database. */
const aesKey = (secretsKey: string) => createHash('sha256').update(`octiv server keys\0${secretsKey}`).digest();

function unsealMaterial(stored: Material | Sealed, secretsKey: string | undefined): Material {
  if (!isSealed(stored)) return stored;
  if (!secretsKey) throw new Error('The stored signing and cookie keys are encrypted: set SECRETS_KEY (or DATA_DIR with its secrets.key) to the key they were sealed with.');
  try {
    return unseal(stored, [aesKey(secretsKey)]) as Material;
  } catch {
    throw new Error('The stored signing and cookie keys cannot be opened with this SECRETS_KEY: it is not the key they were sealed with.');
  }
}

async function generateSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
}

/**
 * Loads the signing and cookie keys, generating and storing them on first
 * start, so a restart (or a second process) keeps sessions and tokens valid.
 * Keys given by the environment take precedence and are not stored. With a
 * secrets key (SECRETS_KEY, or the embedded database's secrets.key file),
 * stored keys are sealed with AES-256-GCM, so a copy of the database cannot
 * sign a cookie or a token; keys stored in clear by an earlier start are
 * sealed the first time a secrets key is there.
 */
export async function loadServerKeys(
  db: Knex,
  fromEnvironment: { jwks?: { keys: Record<string, unknown>[] } | undefined; cookieKeys?: string[] | undefined; secretsKey?: string | undefined } = {},
): Promise<ServerKeys> {
  const { secretsKey } = fromEnvironment;
  const store = (material: Material) => JSON.stringify(secretsKey ? seal(material, aesKey(secretsKey)) : material);
  const stored = await inTransaction(db, async (trx) => {
    // Serialises first starts, so concurrent processes agree on one set of keys.
    await trx.raw('select pg_advisory_xact_lock(?)', [SERVER_KEYS_LOCK]);
    const rows: { id: number; kind: string; material: Material | Sealed }[] = await trx('server_keys').select('id', 'kind', 'material').orderBy('id');
    const byKind = new Map<string, Material>();
    for (const row of rows) {
      const material = unsealMaterial(row.material, secretsKey);
      if (secretsKey && !isSealed(row.material)) await trx('server_keys').where({ id: row.id }).update({ material: store(material) });
      byKind.set(row.kind, material);
    }
    if (!fromEnvironment.jwks && !byKind.has('signing')) {
      const material = { keys: [await generateSigningKey()] };
      await trx('server_keys').insert({ kind: 'signing', material: store(material) });
      byKind.set('signing', material);
    }
    if (!fromEnvironment.cookieKeys && !byKind.has('cookie')) {
      const material = { keys: [randomBytes(32).toString('base64url')] };
      await trx('server_keys').insert({ kind: 'cookie', material: store(material) });
      byKind.set('cookie', material);
    }
    return byKind;
  });
  return {
    jwks: (fromEnvironment.jwks ?? stored.get('signing')) as { keys: JWK[] },
    cookieKeys: (fromEnvironment.cookieKeys ?? stored.get('cookie')?.keys) as string[],
  };
}

/**
 * Keys of their own for one purpose (`purpose` names it), derived by
 * HKDF-SHA256 from the cookie keys: a secret every process shares that a
 * copy of the database does not give (it comes from the environment, or is
 * stored sealed by the secrets key). A cookie key is never used itself, so
 * no use can make a value that passes for another's. One key per cookie
 * key, in the same order: the first makes, and all of them open what an
 * earlier first key made, until that key is no longer listed.
 */
export function derivedKeys(keys: Pick<ServerKeys, 'cookieKeys'>, purpose: string): Buffer[] {
  return keys.cookieKeys.map((cookieKey) => Buffer.from(hkdfSync('sha256', cookieKey, 'octiv derived keys', purpose, 32)));
}

/**
 * The key that seals stored server keys: SECRETS_KEY; on the embedded
 * database without it, a key made on first start in DATA_DIR/secrets.key
 * (a file beside the database, never in it). Postgres without either stores
 * them in clear: allowed in development only, and said.
 */
export async function resolveSecretsKey(config: Config, logger: Logger): Promise<string | undefined> {
  if (config.secretsKey) return config.secretsKey;
  if (config.database.kind === 'embedded') {
    const file = path.join(path.resolve(config.database.dataDir), 'secrets.key');
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch {
      const key = randomBytes(32).toString('base64url');
      await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' }).catch(() => undefined);
      return (await readFile(file, 'utf8')).trim();
    }
  }
  if (!(config.cookieKeys && config.jwks)) {
    logger.warn('SECRETS_KEY is not set: the generated signing and cookie keys are stored in the database in clear (refused in production)');
  }
  return undefined;
}
