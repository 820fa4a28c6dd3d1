import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {spawnSync} from 'node:child_process';
import {FIXTURES, ROOT, tsSources, tempDir} from '../helpers';

/**
 * The layers of docs/ARCHITECTURE.md, lowest first. A file may import files of a lower layer and of its own folder;
 * folders that share a rank are peers and may not import each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['src/core'],
  ['src/cbp'],
  ['models', 'src/data'],
  ['src/run'],
  ['src/torch', 'onnx'],
  ['src/eval', 'src/train'],
  ['src/app'],
  ['src/index.ts'],
  ['commands'],
];
const LIBRARY = LAYERS.flat();
/**
 * Sub-folders of a layer's folder: peers of each other (the two training engines never import each other). A file
 * of a sub-folder may import its parent folder's own files (the engine contract); the parent's files may import
 * its sub-folders (the registry creates the engines).
 */
const SUBFOLDERS: Readonly<Record<string, readonly string[]>> = {'src/train': ['src/train/ort', 'src/train/tfjs']};

const within = (file: string, folder: string): boolean => file === folder || file.startsWith(`${folder}/`);

function layerOf(file: string): {rank: number; folder: string; parent?: string} | undefined {
  for (let rank = 0; rank < LAYERS.length; rank++) {
    for (const folder of LAYERS[rank]) {
      if (!within(file, folder)) continue;
      const sub = (SUBFOLDERS[folder] ?? []).find((f) => within(file, f));
      return sub === undefined ? {rank, folder} : {rank, folder: sub, parent: folder};
    }
  }
  return undefined;
}

/** Whether a file of `from` may import a file of `to` of the same rank. */
function sameRankAllowed(from: {folder: string; parent?: string}, to: {folder: string; parent?: string}): boolean {
  if (to.folder === from.folder) return true;
  if (from.parent !== undefined && to.folder === from.parent) return true;
  return from.parent === undefined && to.parent === from.folder;
}

/** Relative imports of a file (static, dynamic and require), as repository paths without extension. */
function importsOf(file: string): {target: string; typeOnly: boolean}[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const out: {target: string; typeOnly: boolean}[] = [];
  const re = /(import\s+type\s[^;]*?from\s+|import\s[^;]*?from\s+|export\s[^;]*?from\s+|import\(\s*|require\(\s*)'(\.{1,2}\/[^']+)'/g;
  for (const m of text.matchAll(re)) {
    out.push({target: path.posix.normalize(path.posix.join(path.posix.dirname(file), m[2])), typeOnly: /^import\s+type\s/.test(m[1])});
  }
  return out;
}

const FILES = ['src', 'models', 'onnx', 'commands'].flatMap(tsSources);
const strip = (f: string): string => f.replace(/\.ts$/, '');
const BY_STEM = new Map(FILES.map((f) => [strip(f), f]));
const resolve = (target: string): string | undefined => BY_STEM.get(target) ?? BY_STEM.get(`${target}/index`);

test('every library file belongs to a layer', () => {
  const loose = FILES.filter((f) => layerOf(f) === undefined);
  assert.deepEqual(loose, [], `files outside the layers of docs/ARCHITECTURE.md (${LIBRARY.join(', ')})`);
});

test('imports point down: no file imports a higher layer or a peer folder', () => {
  const bad: string[] = [];
  for (const file of FILES) {
    const from = layerOf(file);
    if (from === undefined) continue;
    for (const {target} of importsOf(file)) {
      const resolved = resolve(target);
      if (resolved === undefined) {
        bad.push(`${file} imports ${target}, which is no source file`);
        continue;
      }
      const to = layerOf(resolved);
      if (to === undefined) continue;
      if (to.rank > from.rank || (to.rank === from.rank && !sameRankAllowed(from, to))) bad.push(`${file} (${from.folder}) imports ${resolved} (${to.folder})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no import cycle among the library files, type-only imports included', () => {
  const edges = new Map(FILES.map((f) => [f, importsOf(f).map((i) => resolve(i.target)).filter((t): t is string => t !== undefined)]));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  // Iterative depth-first search; a node met again while open closes a cycle.
  for (const start of FILES) {
    if (state.has(start)) continue;
    const stack: {file: string; next: number}[] = [{file: start, next: 0}];
    state.set(start, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const targets = edges.get(top.file) ?? [];
      if (top.next >= targets.length) {
        state.set(top.file, 'done');
        stack.pop();
        continue;
      }
      const t = targets[top.next++];
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.findIndex((s) => s.file === t)).map((s) => s.file), t].join(' → '));
      else if (!state.has(t)) {
        state.set(t, 'open');
        stack.push({file: t, next: 0});
      }
    }
  }
  assert.deepEqual(cycles, []);
});

test('the commands use the library only through its public API (src/index.ts), as any caller does', () => {
  const bad = FILES.filter((f) => within(f, 'commands')).flatMap((file) =>
    importsOf(file)
      .map((i) => resolve(i.target))
      .filter((t): t is string => t !== undefined && !within(t, 'commands') && t !== 'src/index.ts')
      .map((t) => `${file} imports ${t}`),
  );
  assert.deepEqual(bad, []);
});

test('the engines are peers: neither imports the other, and the layer check sees it', () => {
  const ort = layerOf('src/train/ort/engine.ts');
  const tfjs = layerOf('src/train/tfjs/engine.ts');
  const loop = layerOf('src/train/trainer.ts');
  assert.ok(ort !== undefined && tfjs !== undefined && loop !== undefined);
  assert.equal(sameRankAllowed(ort, tfjs), false);
  assert.equal(sameRankAllowed(tfjs, ort), false);
  assert.equal(sameRankAllowed(ort, loop), true);
  assert.equal(sameRankAllowed(loop, tfjs), true);
  assert.equal(sameRankAllowed(layerOf('src/eval/evaluate.ts') ?? loop, ort), false);
});

/** What a file imports of the library, as resolved repository paths. */
const libraryImportsOf = (file: string): string[] => importsOf(file).map((i) => resolve(i.target)).filter((t): t is string => t !== undefined);

test('onnx/ is the ONNX format and src/torch the .pth reader: the use-cases (runs written, sessions opened, data read) live in src/app', () => {
  // Writing a run, opening an ONNX Runtime session or reading a data set is an importer's use-case (src/app/import-*.ts).
  const useCases = ['src/run', 'src/data', 'src/core/ort.ts', 'src/core/atomic.ts'];
  const bad = FILES.filter((f) => within(f, 'onnx') || within(f, 'src/torch')).flatMap((file) =>
    libraryImportsOf(file)
      .filter((t) => useCases.some((u) => within(t, u)))
      .map((t) => `${file} imports ${t}`),
  );
  // The pickle, zip and tensor reading of a .pth needs only src/core.
  bad.push(...FILES.filter((f) => within(f, 'src/torch')).flatMap((file) => libraryImportsOf(file).filter((t) => !within(t, 'src/core') && !within(t, 'src/torch')).map((t) => `${file} imports ${t}`)));
  // The storage kinds as ONNX types: the constraint registry passes its storage names, it is not read here.
  bad.push(...libraryImportsOf('onnx/codes.ts').filter((t) => within(t, 'src/cbp')).map((t) => `onnx/codes.ts imports ${t}`));
  assert.deepEqual(bad, []);
});

test('only the TensorFlow.js engine (its folder holds the loader, src/train/tfjs/tf.ts) imports TensorFlow.js', () => {
  const bad = FILES.filter((f) => !within(f, 'src/train/tfjs')).filter((f) => {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    return /from\s+'@tensorflow\/|require\(\s*'@tensorflow\/|import\(\s*'@tensorflow\//.test(text);
  });
  assert.deepEqual(bad, []);
});

test('an engine folder is reached only through its entry.ts, and only by the registry (src/train/registry.ts)', () => {
  const engines = SUBFOLDERS['src/train'];
  const bad = FILES.flatMap((file) =>
    libraryImportsOf(file)
      .filter((t) => engines.some((e) => within(t, e) && !within(file, e)))
      .filter((t) => file !== 'src/train/registry.ts' || !/\/entry\.ts$/.test(t))
      .map((t) => `${file} imports ${t}`),
  );
  assert.deepEqual(bad, []);
});

test('cbp eval, cbp import, cbp info and cbp serve load no TensorFlow.js when they start', () => {
  // What node actually loads, not what the sources say: require each command and list the modules in the cache.
  for (const cmd of ['eval', 'import', 'info', 'serve']) {
    const script = `require(${JSON.stringify(path.join(ROOT, 'dist', 'commands', `${cmd}.js`))}); ` +
      `const tf = Object.keys(require.cache).filter((k) => k.includes('@tensorflow')); console.log(JSON.stringify(tf));`;
    const r = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8'});
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [], `cbp ${cmd} loads TensorFlow.js`);
  }
});

test('cbp import --onnx (import, export and its verification) runs without loading TensorFlow.js', () => {
  const tmp = tempDir('cbp-layers-');
  try {
    // A preloaded hook records, as the process exits, every module it loaded.
    const hook = path.join(tmp, 'hook.js');
    const record = path.join(tmp, 'loaded.json');
    fs.writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(record)}, JSON.stringify(Object.keys(require.cache))));`);
    const args = ['-r', hook, path.join(ROOT, 'bin', 'run.js'), 'import', path.join(FIXTURES, 'torch', 'resnet50_legacy.pth'), '--model', 'resnet50', '--quant', 'ter',
      '--input-size', '64', '--out', path.join(tmp, 'run'), '--onnx', path.join(tmp, 'r50.onnx')];
    const r = spawnSync(process.execPath, args, {cwd: ROOT, encoding: 'utf8', timeout: 300_000});
    assert.equal(r.status, 0, r.stderr);
    assert.ok(fs.statSync(path.join(tmp, 'r50.onnx')).size > 0);
    const loaded = JSON.parse(fs.readFileSync(record, 'utf8')) as string[];
    assert.ok(loaded.some((k) => k.includes('onnxruntime-node')), 'the check ran in ONNX Runtime');
    assert.deepEqual(loaded.filter((k) => k.includes('@tensorflow')), []);
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
});

test('cbp train on the ONNX Runtime engine runs without loading TensorFlow.js', () => {
  const tmp = tempDir('cbp-layers-');
  try {
    // On Linux `cbp train` trains in a child process that inherits the hook: each process records its own modules.
    const hook = path.join(tmp, 'hook.js');
    const record = (pid: number | string): string => path.join(tmp, `loaded-${pid}.json`);
    fs.writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(record('__PID__'))}.replace('__PID__', String(process.pid)), JSON.stringify(Object.keys(require.cache))));`);
    const args = ['-r', hook, path.join(ROOT, 'bin', 'run.js'), 'train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--limit', '256', '--test-limit', '256', '--epochs', '1',
      '--engine', 'onnxruntime', '--no-plot', '--out', path.join(tmp, 'run')];
    const r = spawnSync(process.execPath, args, {cwd: ROOT, encoding: 'utf8', timeout: 300_000});
    assert.equal(r.status, 0, r.stderr);
    const loaded = fs.readdirSync(tmp).filter((f) => /^loaded-\d+\.json$/.test(f)).flatMap((f) => JSON.parse(fs.readFileSync(path.join(tmp, f), 'utf8')) as string[]);
    assert.ok(loaded.some((k) => k.includes('onnxruntime-node')));
    assert.deepEqual(loaded.filter((k) => k.includes('@tensorflow')), []);
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
});
