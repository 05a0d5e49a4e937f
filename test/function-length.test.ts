import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import test from 'ava';
import ts from 'typescript';

// Short functions at the seams (issue 24): no function's own body (the
// functions nested in it not counted) runs past 80 lines, in the server, the
// console, the migrations and the seeds. Measured on the TypeScript sources.

const ROOT = path.resolve(import.meta.dirname, '../..');
const LIMIT = 80;

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true });
  const files = await Promise.all(
    entries.map((entry) => {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) return sources(relative);
      return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [relative] : [];
    }),
  );
  return files.flat();
}

/** A function-like node with a body. */
function isFunction(node: ts.Node): node is ts.FunctionLikeDeclaration & { body: ts.Node } {
  return (ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node) || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) && node.body !== undefined;
}

/** Each function of a file with the lines of its own body: its body's lines less those of the functions directly inside it. */
function ownLengths(file: ts.SourceFile): { name: string; line: number; own: number }[] {
  const lines = (node: ts.Node) => file.getLineAndCharacterOfPosition(node.getEnd()).line - file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1;
  const found: { name: string; line: number; own: number }[] = [];
  /** The lines of the functions directly inside `node` (not inside those). */
  const nested = (node: ts.Node): number => {
    let total = 0;
    node.forEachChild((child) => {
      total += isFunction(child) ? lines(child) : nested(child);
    });
    return total;
  };
  const visit = (node: ts.Node) => {
    if (isFunction(node)) {
      const name = node.name?.getText(file) ?? (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent) ? node.parent.name.getText(file) : '(anonymous)');
      found.push({ name, line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1, own: lines(node.body) - nested(node.body) });
    }
    node.forEachChild(visit);
  };
  visit(file);
  return found;
}

test(`no function's own body runs past ${LIMIT} lines`, async (t) => {
  const files = (await Promise.all(['src', 'migrations', 'seeds'].map(sources))).flat();
  t.true(files.length > 50, 'the sources were found');
  const long: string[] = [];
  for (const relative of files) {
    const text = await readFile(path.join(ROOT, relative), 'utf8');
    const file = ts.createSourceFile(relative, text, ts.ScriptTarget.Latest, true, relative.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
    for (const fn of ownLengths(file)) if (fn.own > LIMIT) long.push(`${relative}:${fn.line} ${fn.name}: ${fn.own} lines`);
  }
  t.deepEqual(long, [], long.join('\n'));
});

test('the measure counts a nested function apart from its parent', (t) => {
  const inner = Array.from({ length: 90 }, (_, index) => `    const v${index} = ${index};`).join('\n');
  const text = `function outer() {\n  const a = 1;\n  function inner() {\n${inner}\n  }\n  return a;\n}\n`;
  const lengths = ownLengths(ts.createSourceFile('x.ts', text, ts.ScriptTarget.Latest, true));
  t.deepEqual(
    lengths.map((fn) => [fn.name, fn.own]),
    [
      ['outer', 4],
      ['inner', 92],
    ],
  );
});
