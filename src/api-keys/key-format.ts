import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API key layout: `oct_pat_` + 43 base62 characters of CSPRNG randomness
 * (62^43 > 2^256) + 6 base62 characters of CRC32 over everything before them.
 *
 * - the prefix lets secret scanners find leaked keys and says what a key is;
 * - letters and digits only after the prefix, joined by underscores: one word
 *   to a double-click and to a regular expression;
 * - the checksum rejects a mistyped or made-up key without a database lookup.
 */
export const KEY_PREFIX = 'oct_pat_';
export const RANDOM_LENGTH = 43;
export const CHECKSUM_LENGTH = 6;
export const KEY_LENGTH = KEY_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;

/** For secret scanners: matches an Octiv API key anywhere in text. */
export const KEY_PATTERN = /\boct_pat_[0-9A-Za-z]{49}\b/;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const WHOLE_KEY = /^oct_pat_[0-9A-Za-z]{49}$/;

/** Uniform base62 characters: bytes of 248 and above are discarded (248 = 4 x 62), so there is no modulo bias. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function base62(value: number, width: number): string {
  let out = '';
  let rest = value;
  do {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  return out.padStart(width, '0');
}

function checksum(body: string): string {
  return base62(crc32(body), CHECKSUM_LENGTH);
}

/** A new API key. */
export function generateKey(): string {
  const body = KEY_PREFIX + randomBase62(RANDOM_LENGTH);
  return body + checksum(body);
}

/** True when `value` has the key layout and its checksum matches: no database needed. */
export function isWellFormedKey(value: string): boolean {
  if (value.length !== KEY_LENGTH || !WHOLE_KEY.test(value)) return false;
  const split = KEY_LENGTH - CHECKSUM_LENGTH;
  return checksum(value.slice(0, split)) === value.slice(split);
}
