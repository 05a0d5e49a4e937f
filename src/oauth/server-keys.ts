import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Knex } from 'knex';

import type { Config } from '../config.js';
import { inTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';

export interface ServerKeys {
  /** Private signing keys for oidc-provider (ID tokens, JWT responses). */
  jwks: { keys: JWK[] };
  /** Keys that sign the provider's cookies; the first signs, all verify. */
  cookieKeys: string[];
}

// Any fixed number works; it only has to be the same in every process.
const SERVER_KEYS_LOCK = 727_274_001;

/** Stored key material encrypted with the secrets key (AES-256-GCM); the key itself never lives in the database. */
interface Sealed {
  sealed: 'A256GCM';
  iv: string;
  tag: string;
  data: string;
}

type Material = { keys: unknown[] };

const aesKey = (secretsKey: string) => createHash('sha256').update(`octiv server keys\0${secretsKey}`).digest();

function seal(material: Material, secretsKey: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', aesKey(secretsKey), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(material), 'utf8'), cipher.final()]);
  return { sealed: 'A256GCM', iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), data: data.toString('base64url') };
}

function unseal(stored: Material | Sealed, secretsKey: string | undefined): Material {
  if (!('sealed' in stored)) return stored;
  if (!secretsKey) throw new Error('The stored signing and cookie keys are encrypted: set SECRETS_KEY (or DATA_DIR with its secrets.key) to the key they were sealed with.');
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey(secretsKey), Buffer.from(stored.iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(stored.tag, 'base64url'));
    return JSON.parse(Buffer.concat([decipher.update(Buffer.from(stored.data, 'base64url')), decipher.final()]).toString('utf8')) as Material;
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
  const store = (material: Material) => JSON.stringify(secretsKey ? seal(material, secretsKey) : material);
  const stored = await inTransaction(db, async (trx) => {
    // Serialises first starts, so concurrent processes agree on one set of keys.
    await trx.raw('select pg_advisory_xact_lock(?)', [SERVER_KEYS_LOCK]);
    const rows: { id: number; kind: string; material: Material | Sealed }[] = await trx('server_keys').select('id', 'kind', 'material').orderBy('id');
    const byKind = new Map<string, Material>();
    for (const row of rows) {
      const material = unseal(row.material, secretsKey);
      if (secretsKey && !('sealed' in row.material)) await trx('server_keys').where({ id: row.id }).update({ material: store(material) });
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
