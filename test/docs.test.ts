import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { LEADS_API_DEFAULT_AUDIENCE, loadConfig } from '../src/config.js';

// The tests run from dist/test: the repository is two folders up.
const ROOT = path.resolve(import.meta.dirname, '../..');
const README = path.join(ROOT, 'README.md');
const DOCS = path.join(ROOT, 'docs');
/** In the working tree but not in the repository: a link there would break in a fresh clone. */
const NOT_IN_REPOSITORY = ['dist', 'node_modules', '.data', '.git'];

const MARKDOWN_FILES = [README, ...readdirSync(DOCS).filter((name) => name.endsWith('.md')).map((name) => path.join(DOCS, name))];

interface Link {
  file: string;
  line: number;
  target: string;
}

/** The lines of a Markdown file that are prose: fenced code blocks become empty lines (line numbers kept). */
function proseLines(file: string): string[] {
  let fence: string | undefined;
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => {
      const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
      if (marker && (fence === undefined || marker.startsWith(fence))) {
        fence = fence === undefined ? marker : undefined;
        return '';
      }
      return fence === undefined ? line : '';
    });
}

const INLINE_CODE = /(`+)(?:(?!\1).)+?\1/g;
// [text](target "title") and ![alt](target), with one level of brackets inside the text.
const INLINE_LINK = /!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g;
const REFERENCE_DEFINITION = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/;
const HTML_LINK = /\b(?:href|src)\s*=\s*"([^"]*)"/g;

/** Every link and image of a Markdown file (inline, reference definitions, HTML), outside code. */
function linksOf(file: string): Link[] {
  return proseLines(file).flatMap((raw, index) => {
    const line = raw.replace(INLINE_CODE, '');
    const targets = [...line.matchAll(INLINE_LINK), ...line.matchAll(HTML_LINK)].map((match) => match[1] ?? '');
    const definition = REFERENCE_DEFINITION.exec(line)?.[1];
    if (definition) targets.push(definition);
    return targets.map((target) => ({ file, line: index + 1, target }));
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2, ... */
function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(file)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

const where = (link: Link) => `${path.relative(ROOT, link.file)}:${link.line}: ${link.target}`;

/** What is wrong with a link, or undefined. Anchors are checked against the headings of a Markdown target. */
function problemOf(link: Link): string | undefined {
  if (link.target === '') return 'an empty link';
  if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) return 'a link out of the repository (name a specification in plain text instead)';
  if (link.target.startsWith('/') || link.target.startsWith('\\')) return 'an absolute path: link relative to the file';
  const [pathPart = '', anchor] = link.target.split('#', 2);
  const resolved = pathPart === '' ? link.file : path.resolve(path.dirname(link.file), decodeURIComponent(pathPart));
  const inside = path.relative(ROOT, resolved);
  if (inside.startsWith('..') || path.isAbsolute(inside)) return 'a path outside the repository';
  if (NOT_IN_REPOSITORY.includes(inside.split(path.sep)[0] ?? '')) return `a path under ${inside.split(path.sep)[0]}/, which is not in the repository`;
  if (!existsSync(resolved)) return 'no such file';
  if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) return `no heading #${anchor} in ${path.relative(ROOT, resolved)}`;
  return undefined;
}

test('the README is a front door: at most 300 lines', (t) => {
  const lines = readFileSync(README, 'utf8').replace(/\n$/, '').split('\n').length;
  t.true(lines <= 300, `README.md has ${lines} lines; move the detail into docs/`);
});

test('every link and image of the README and docs/*.md resolves inside the repository (anchors to a heading)', (t) => {
  const links = MARKDOWN_FILES.flatMap(linksOf);
  // The README links into every page of docs/: a parser that found nothing would pass vacuously.
  t.true(links.filter((link) => link.file === README).length >= 10, 'links found in README.md');
  t.true(links.some((link) => link.target.endsWith('.png')), 'an image found');
  const problems = links.flatMap((link) => {
    const problem = problemOf(link);
    return problem ? [`${where(link)} (${problem})`] : [];
  });
  t.deepEqual(problems, []);
});

test('the link check refuses what it should', (t) => {
  const at = (target: string, file = README): Link => ({ file, line: 1, target });
  t.is(problemOf(at('../shared/API.md')), 'a path outside the repository');
  t.is(problemOf(at('../../README.md', path.join(DOCS, 'api.md'))), 'a path outside the repository');
  t.is(problemOf(at('https://example.com/')), 'a link out of the repository (name a specification in plain text instead)');
  t.is(problemOf(at('/docs/api.md')), 'an absolute path: link relative to the file');
  t.is(problemOf(at('docs/no-such-page.md')), 'no such file');
  t.is(problemOf(at('dist/src/main.js')), 'a path under dist/, which is not in the repository');
  t.is(problemOf(at('docs/api.md#no-such-heading')), 'no heading #no-such-heading in docs/api.md');
  t.is(problemOf(at('docs/api.md#introspection-rfc-7662')), undefined);
  t.is(problemOf(at('#configuration')), undefined);
  t.is(problemOf(at('screenshots/', path.join(DOCS, 'console.md'))), undefined);
});

/** The README's configuration table: variable -> [default, meaning]. */
function configurationTable(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const line of readFileSync(README, 'utf8').split('\n')) {
    const cells = /^\| `([A-Z][A-Z0-9_]*)` \|/.test(line) ? line.split(/(?<!\\)\|/).map((cell) => cell.trim()) : [];
    const name = cells[1]?.replace(/`/g, '');
    if (name) rows.set(name, [cells[2] ?? '', cells[3] ?? '']);
  }
  return rows;
}

test('the configuration table lists every variable src/config.ts parses, with its default', (t) => {
  const source = readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
  const schema = source.slice(source.indexOf('const envSchema'), source.indexOf('.superRefine('));
  const parsed = [...schema.matchAll(/^ {4}([A-Z][A-Z0-9_]*):/gm)].map((match) => match[1]!);
  t.true(parsed.length >= 20, `variables found in src/config.ts: ${parsed.join(', ')}`);
  const table = configurationTable();
  t.deepEqual(parsed.filter((name) => !table.has(name)), [], 'parsed by src/config.ts, missing from the README');
  t.deepEqual([...table.keys()].filter((name) => !parsed.includes(name)), [], 'in the README, not parsed by src/config.ts');

  const defaults = loadConfig({});
  const postgres = loadConfig({ DATABASE_URL: 'postgres://docs@127.0.0.1/docs' });
  const expected: Record<string, string> = {
    NODE_ENV: defaults.env,
    PORT: String(defaults.port),
    TRUST_PROXY: String(defaults.trustProxy),
    DATABASE_POOL_MAX: String(postgres.database.kind === 'postgres' ? postgres.database.poolMax : NaN),
    DATA_DIR: defaults.database.kind === 'embedded' ? defaults.database.dataDir : '',
    LOG_LEVEL: defaults.logLevel,
    LEADS_API_AUDIENCE: LEADS_API_DEFAULT_AUDIENCE,
    LEADS_API_CLIENT_ID: defaults.leadsApiClient.id,
    LEADS_API_KEY_CHECK: defaults.leadsApiKeyCheck.mode,
    DEMO_PASSWORD: defaults.demoPassword,
    RATE_LIMITS: defaults.rateLimits ? 'on' : 'off',
    AUDIT_RETENTION_DAYS: String(defaults.auditRetentionDays),
    SHUTDOWN_TIMEOUT_MS: String(defaults.shutdownTimeoutMs),
  };
  for (const [name, value] of Object.entries(expected)) t.is(table.get(name)?.[0], `\`${value}\``, `the default of ${name}`);
  t.is(defaults.leadsApiResource, LEADS_API_DEFAULT_AUDIENCE, 'the Leads audience does not follow PUBLIC_URL');
  t.notRegex(table.get('PUBLIC_URL')?.[1] ?? '', /api\/v1\/leads/, 'PUBLIC_URL does not make the Leads API audience');
});
