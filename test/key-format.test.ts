import test from 'ava';

import { generateKey, isWellFormedKey, KEY_LENGTH, KEY_PATTERN, RANDOM_LENGTH } from '../src/api-keys/key-format.js';

test('a key is oct_pat_ + 43 base62 random characters + a 6-character checksum', (t) => {
  const key = generateKey();
  t.is(key.length, KEY_LENGTH);
  t.is(KEY_LENGTH, 8 + 43 + 6);
  t.regex(key, /^oct_pat_[0-9A-Za-z]{49}$/);
  t.true(isWellFormedKey(key));
  t.true(KEY_PATTERN.test(`leaked in a config file: TOKEN=${key} # oops`));
  // 43 base62 characters carry at least 256 bits.
  t.true(RANDOM_LENGTH * Math.log2(62) >= 256);
});

test('keys are distinct and their characters are spread over the whole alphabet', (t) => {
  const keys = Array.from({ length: 2000 }, generateKey);
  t.is(new Set(keys).size, keys.length);
  const counts = new Map<string, number>();
  for (const key of keys) for (const character of key.slice(8, 8 + RANDOM_LENGTH)) counts.set(character, (counts.get(character) ?? 0) + 1);
  t.is(counts.size, 62);
  const expected = (keys.length * RANDOM_LENGTH) / 62;
  for (const [character, count] of counts) t.true(Math.abs(count - expected) / expected < 0.15, `${character}: ${count} vs ${expected}`);
});

test('a mistyped, truncated or made-up key fails the checksum', (t) => {
  const key = generateKey();
  const flipped = key.slice(0, 20) + (key[20] === 'a' ? 'b' : 'a') + key.slice(21);
  t.false(isWellFormedKey(flipped));
  t.false(isWellFormedKey(key.slice(0, -1)));
  t.false(isWellFormedKey(`${key}x`));
  t.false(isWellFormedKey(`oct_pat_${'a'.repeat(49)}`));
  t.false(isWellFormedKey(key.replace('oct_pat_', 'oct_pak_')));
});
