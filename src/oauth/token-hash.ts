import { createHash } from 'node:crypto';

/**
 * The one way a token value is turned into what is stored: SHA-256, hex.
 * Tokens carry at least 256 bits of CSPRNG randomness, so a fast hash is the
 * right tool (a slow password hash would only slow every request).
 */
export function hashToken(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}
