import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import {ROOT, tsSources} from '../helpers';

/**
 * A type assertion (`x as T`, `<T>x`; `as const` aside) tells the compiler to believe what it cannot check, so the
 * library allows one only with a comment saying why it holds: on the line where the cast starts, the line above it,
 * or the line of its `as`. Everything else is a type guard, a typed helper or a runtime check.
 */
const LIBRARY = ['src', 'models', 'onnx', 'commands'];

function isAsConst(type: ts.TypeNode): boolean {
  return ts.isTypeReferenceNode(type) && ts.isIdentifier(type.typeName) && type.typeName.text === 'const';
}

/** 0-based lines that hold (part of) a comment with some text in it. */
function commentLines(sf: ts.SourceFile): Set<number> {
  const text = sf.getFullText();
  const lines = new Set<number>();
  const record = (ranges: ts.CommentRange[] | undefined): void => {
    for (const r of ranges ?? []) {
      if (!/[\p{L}\p{N}]/u.test(text.slice(r.pos, r.end))) continue;
      const first = sf.getLineAndCharacterOfPosition(r.pos).line;
      const last = sf.getLineAndCharacterOfPosition(r.end).line;
      for (let l = first; l <= last; l++) lines.add(l);
    }
  };
  // Every comment is trivia next to some token: leading (on lines of its own) or trailing (after a token, same line).
  const visit = (node: ts.Node): void => {
    const children = node.getChildren(sf);
    if (children.length === 0) {
      record(ts.getLeadingCommentRanges(text, node.pos));
      record(ts.getTrailingCommentRanges(text, node.end));
    }
    for (const c of children) visit(c);
  };
  visit(sf);
  return lines;
}

/** `file:line: cast` for each type assertion of `text` without a comment beside it or on the line above. */
function uncommentedCasts(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const comments = commentLines(sf);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) && !isAsConst(node.type)) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const asLine = sf.getLineAndCharacterOfPosition(node.type.getStart(sf)).line;
      if (![start - 1, start, asLine].some((l) => comments.has(l))) {
        out.push(`${file}:${start + 1}: ${node.getText(sf).replace(/\s+/g, ' ').slice(0, 100)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test('every type assertion in the library has a comment saying why it holds', () => {
  const found = LIBRARY.flatMap(tsSources).flatMap((f) => uncommentedCasts(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(found, [], `casts without a comment (replace with a type guard or a checked helper, or say why the cast holds):\n${found.join('\n')}`);
});

test('the cast check finds uncommented casts and accepts commented ones', () => {
  const code = [
    'const a = JSON.parse(s) as number[];', // 1: uncommented
    '// Parsed from our own output.',
    'const b = JSON.parse(s) as number[];', // 3: comment above
    'const c = <string>x; // checked above',  // 4: same line
    'const d = [1, 2] as const;', // 5: as const is no cast
    'const e = f(',
    '  x,',
    ') as T;', // 6: multi-line, no comment
    'const g = `// not a comment ${x}` as string;', // 9: a string is no comment
    '//',
    'const h = y as Z;', // 11: an empty comment says nothing
  ].join('\n');
  assert.deepEqual(
    uncommentedCasts('x.ts', code).map((l) => l.split(':').slice(0, 2).join(':')),
    ['x.ts:1', 'x.ts:6', 'x.ts:9', 'x.ts:11'],
  );
});
