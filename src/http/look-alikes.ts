import unhomoglyph from 'unhomoglyph';
import { z } from 'zod';

import { expects, SINGLE_LINE_TEXT } from './validation.js';

/**
 * The confusable skeleton of UTS #39 (Unicode Security Mechanisms, section
 * 4): NFD, each character replaced by its prototype from Unicode's
 * confusables.txt (the `unhomoglyph` package carries that table), NFD
 * again. Two strings with one skeleton look alike ("АРІ" in Cyrillic and
 * "APl" have the skeleton "APl"). Not meant to be read: "m" becomes "rn".
 */
export function confusableSkeleton(text: string): string {
  return unhomoglyph(text.normalize('NFD')).normalize('NFD');
}

/**
 * What two names that look the same, whatever their case, have in common:
 * their skeleton with case folded, again until it no longer changes
 * (folding case can give a letter with a look-alike, "i" to "I", whose
 * prototype is "l"; a prototype can be a capital, Cherokee "Ꭺ" to "A").
 * Starting from the lowercase, two names equal but for case always share a
 * key. Names with one key are one name: a unique index holds it (see the
 * api_keys migration that adds `name_skeleton`). A change to this function
 * (or to the table's version) needs a migration that computes the stored
 * keys again.
 */
export function lookAlikeKey(text: string): string {
  let key = text.toLowerCase();
  for (let pass = 0; pass < 4; pass += 1) {
    const next = confusableSkeleton(confusableSkeleton(key.toUpperCase()).toLowerCase());
    if (next === key) break;
    key = next;
  }
  return key;
}

/** UAX #31 table 4: the scripts in common use today (besides Common and Inherited). */
const RECOMMENDED_SCRIPTS = [
  'Arabic', 'Armenian', 'Bengali', 'Bopomofo', 'Cyrillic', 'Devanagari', 'Ethiopic', 'Georgian', 'Greek', 'Gujarati',
  'Gurmukhi', 'Han', 'Hangul', 'Hebrew', 'Hiragana', 'Kannada', 'Katakana', 'Khmer', 'Lao', 'Latin', 'Malayalam',
  'Myanmar', 'Oriya', 'Sinhala', 'Tamil', 'Telugu', 'Thaana', 'Thai', 'Tibetan',
] as const;

const SCRIPT_TESTS = RECOMMENDED_SCRIPTS.map((name) => [name, new RegExp(`\\p{Script_Extensions=${name}}`, 'u')] as const);
/** Digits, punctuation, spaces, combining marks: they go with any script. */
const ANY_SCRIPT = /[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]/u;
/** UTS #39 5.1: Han counts as each writing system it is part of, so Japanese or Korean is one script. */
const WRITING_SYSTEMS: Partial<Record<string, string[]>> = {
  Han: ['Han', 'Hanb', 'Jpan', 'Kore'],
  Hiragana: ['Jpan'],
  Katakana: ['Jpan'],
  Hangul: ['Kore'],
  Bopomofo: ['Hanb'],
};
/** What Latin may go with (UTS #39 5.2): Japanese, Chinese with Bopomofo, Korean, and any other recommended script but Cyrillic and Greek. */
const WITH_LATIN = ['Jpan', 'Hanb', 'Kore', ...RECOMMENDED_SCRIPTS.filter((name) => !['Latin', 'Cyrillic', 'Greek'].includes(name))];

/**
 * A character's scripts (its Script_Extensions among the recommended ones,
 * as writing systems); every other script is one "Other". Undefined for
 * characters of any script.
 */
function scriptsOf(character: string): Set<string> | undefined {
  if (ANY_SCRIPT.test(character)) return undefined;
  const scripts = SCRIPT_TESTS.filter(([, test]) => test.test(character)).flatMap(([name]) => WRITING_SYSTEMS[name] ?? [name]);
  return new Set(scripts.length ? scripts : ['Other']);
}

/**
 * True when `text` mixes scripts beyond UTS #39's "moderately restrictive"
 * level (section 5.2): its letters are of one script (Japanese, Korean and
 * Chinese with Bopomofo counting as one), or Latin with one other script in
 * common use that is neither Cyrillic nor Greek. "АРІ Key" (Cyrillic and
 * Latin), "ΑΡΙ Key" and "ᎪᏢᏆ Key" (Cherokee is no script in common use)
 * mix. Scripts outside UAX #31's recommended list count as one, so a name
 * in two of them (a rarity) is not told apart.
 */
export function mixesScripts(text: string): boolean {
  const sets = [...text].map(scriptsOf).filter((scripts): scripts is Set<string> => scripts !== undefined);
  const [first, ...rest] = sets;
  if (!first) return false;
  const common = [...first].filter((script) => rest.every((scripts) => scripts.has(script)));
  if (common.length > 0) return false;
  return !WITH_LATIN.some((other) => sets.every((scripts) => scripts.has('Latin') || scripts.has(other)));
}

/**
 * A name people tell apart by reading it in a list (a key's name; a webhook
 * endpoint's description): no invisible or direction characters, no unusual
 * spaces or separators, no pile of combining marks; NFKC (fullwidth letters
 * become plain ones) with runs of spaces collapsed; then its length, and no
 * mixing of scripts that look alike (see mixesScripts). Uniqueness goes by
 * lookAlikeKey, in the database.
 */
export function readableName(options: { max: number }) {
  const tooLong = `must be at most ${options.max} characters`;
  return z
    .string(expects('must be a string'))
    .max(options.max, tooLong)
    .regex(SINGLE_LINE_TEXT, 'must not contain control characters')
    .regex(/^[^\p{Cf}]*$/u, 'must not contain invisible formatting characters (zero-width or direction marks)')
    .regex(/^[^\p{Zl}\p{Zp}]*$/u, 'must not contain line or paragraph separators')
    .regex(/^[^\p{Zs}]*(?: [^\p{Zs}]*)*$/u, 'must use ordinary spaces only (no non-breaking or wide spaces)')
    .regex(/^(?!.*\p{M}{4})/su, 'must not stack more than 3 combining marks on one letter')
    .transform((name) => name.normalize('NFKC').replace(/ +/g, ' ').trim())
    .pipe(
      z
        .string()
        .min(1, 'must not be empty')
        .max(options.max, tooLong)
        .refine((name) => !mixesScripts(name), 'must not mix Latin letters with Cyrillic or Greek ones, nor with a script not in common use (letters that look alike)'),
    );
}
