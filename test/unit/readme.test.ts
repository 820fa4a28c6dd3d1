import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {updateReadme} from '../../bench/cli-reference';
import {ROOT} from '../helpers';

test('docs/CLI.md holds the command reference generated from the commands (run `npm run readme` after changing a flag)', () => {
  const cli = fs.readFileSync(path.join(ROOT, 'docs', 'CLI.md'), 'utf8');
  assert.equal(updateReadme(cli), cli);
  for (const c of ['train', 'export', 'eval', 'import', 'info', 'plot', 'serve']) assert.match(cli, new RegExp(`### \`cbp ${c}\``));
});

test('README gives the install and test commands that CI runs', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const ci = fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
  for (const cmd of ['npm install', 'npm test']) {
    assert.match(readme, new RegExp(`^${cmd}$`, 'm'));
    assert.match(ci, new RegExp(`^${cmd}$`, 'm'));
  }
});

/** README.md and every Markdown page in docs/. */
function docPages(): string[] {
  return ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
}

/** Files of the repository's own folders, by name: what a doc's bare `name.ts` may refer to. */
function fileNames(dir: string, into = new Set<string>()): Set<string> {
  for (const e of fs.readdirSync(path.join(ROOT, dir), {withFileTypes: true})) {
    if (e.isDirectory()) fileNames(`${dir}/${e.name}`, into);
    else into.add(e.name);
  }
  return into;
}

// Folders at the top of the repository; a path the docs give under one of them is a file of cbp's, not the user's.
const REPO_FOLDERS = ['.ci', 'bench', 'bin', 'commands', 'docs', 'models', 'onnx', 'src', 'test'];
// Files the docs name as outputs of a command, not kept in the repository.
const OUTPUTS = new Set(['bench/results.json']);

/**
 * The repository paths one page names: its relative links (resolved from the page's folder), paths under
 * REPO_FOLDERS or under dist/ (mapped back to the TypeScript source that `npm run build` compiles), and bare
 * file names in code spans (`shards.ts`), which must name some file of those folders.
 */
function namedPaths(page: string, text: string, names: ReadonlySet<string>): {ref: string; ok: boolean}[] {
  const out: {ref: string; ok: boolean}[] = [];
  const exists = (rel: string): boolean => OUTPUTS.has(rel) || fs.existsSync(path.join(ROOT, rel));
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1].split('#')[0];
    if (target === '' || /^[a-z]+:/i.test(target)) continue;
    const rel = path.posix.normalize(path.posix.join(path.posix.dirname(page), target));
    out.push({ref: target, ok: exists(rel)});
  }
  const folders = [...REPO_FOLDERS, 'dist'].map((f) => f.replace('.', '\\.')).join('|');
  for (const m of text.matchAll(new RegExp(`(?<![\\w./~$@-])(?:${folders})/[\\w./-]*\\w`, 'g'))) {
    const ref = m[0];
    const rel = ref.startsWith('dist/') ? ref.slice('dist/'.length).replace(/\.js$/, '.ts') : ref;
    out.push({ref, ok: exists(rel)});
  }
  for (const m of text.matchAll(/`([\w.-]+\.(?:ts|py|sh))`/g)) out.push({ref: m[1], ok: names.has(m[1])});
  return out;
}

test('README.md and docs/*.md name only files that exist in the repository', () => {
  const names = new Set<string>();
  for (const dir of REPO_FOLDERS) fileNames(dir, names);
  const missing: string[] = [];
  for (const page of docPages()) {
    const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
    for (const {ref, ok} of namedPaths(page, text, names)) if (!ok) missing.push(`${page}: ${ref}`);
  }
  assert.deepEqual(missing, []);
});

test('the docs path check finds a missing file', () => {
  const names = new Set(['shards.ts']);
  const found = namedPaths('docs/X.md', 'see `src/train/no-such-file.ts`, `dist/bench/no-such.js`, `gone.ts`, [a](NOPE.md); `shards.ts`, [b](GPU.md)', names);
  assert.deepEqual(found.filter((f) => !f.ok).map((f) => f.ref), ['NOPE.md', 'src/train/no-such-file.ts', 'dist/bench/no-such.js', 'gone.ts']);
});
