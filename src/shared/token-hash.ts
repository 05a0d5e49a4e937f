import crypto from 'node:crypto';

/**
 * The one way a token value is turned into what is stored: SHA-256, hex.
 * Tokens carry at least 256 bits of CSPRNG randomness, so a fast hash is the
 * right tool (a slow password hash would only slow every request).
 */
export function hashToken(value: string): string {
  // The one-shot `crypto.hash` (every Node the engines field allows has it) skips the Hash object: measurable on the Leads API's path.
  return crypto.hash('sha256', value, 'hex');
}
