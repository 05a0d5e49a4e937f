import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A JSON value encrypted with AES-256-GCM, as stored: the key itself is never beside it. */
export interface Sealed {
  sealed: 'A256GCM';
  iv: string;
  tag: string;
  data: string;
}

/** Encrypts a JSON value with a 32-byte key (a fresh 96-bit IV each time). */
export function seal(value: unknown, key: Buffer): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return { sealed: 'A256GCM', iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), data: data.toString('base64url') };
}

/** True for what `seal` made. */
export function isSealed(value: unknown): value is Sealed {
  return typeof value === 'object' && value !== null && (value as { sealed?: unknown }).sealed === 'A256GCM';
}

/**
 * Decrypts what `seal` made with any of `keys` (the current one first, then
 * those it replaced); throws when none opens it (another key, or tampered).
 */
export function unseal(sealed: Sealed, keys: Buffer[]): unknown {
  for (const key of keys) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      return JSON.parse(Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64url')), decipher.final()]).toString('utf8'));
    } catch {
      // Not this key: try the next.
    }
  }
  throw new Error('no key opens this sealed value');
}
