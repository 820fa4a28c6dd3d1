import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {spawnSync} from 'node:child_process';
import {FIXTURES, ROOT, tempDir} from '../helpers';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The environment of a user's shell: without the npm_* variables `npm test` sets (its prefix, its package), so that
 * an install or a `cbp` started here sees no trace of the checkout. `extra` adds to it.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))), ...extra};
}

function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, {cwd, encoding: 'utf8', timeout: 600_000, env});
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed in ${cwd}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const tmp = tempDir('cbp-pack-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
// --ignore-scripts: the tree is already built by npm test (a plain `npm pack` builds it through `prepare`); pack what
// a publish would publish.
const tarball = path.join(tmp, run(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp], ROOT).trim().split('\n').pop() ?? '');

test('the package holds the compiled library and commands, the bin and the page cbp serve ships as it is; no tests, fixtures, benchmarks or TypeScript sources', () => {
  const files = run('tar', ['-tzf', tarball], tmp).trim().split('\n').map((f) => f.replace(/^package\//, ''));
  for (const f of ['package.json', 'bin/run.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/commands/train.js', 'dist/models/index.js', 'dist/onnx/writer.js',
    'src/app/serve/static/app.js', 'src/app/serve/static/index.html', 'src/app/serve/static/style.css']) {
    assert.ok(files.includes(f), `the package holds ${f}`);
  }
  const stray = files.filter((f) => /^(dist\/)?(test|bench)\//.test(f) || f.includes('fixtures') || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
  assert.deepEqual(stray, [], 'nothing of the tests, fixtures or benchmarks, and no TypeScript sources');
});

test('installed globally from the tarball with only the npm registry at hand, cbp runs from any folder: --version, --help, train, export, eval, info, and require(\'cbp\')', () => {
  const prefix = path.join(tmp, 'global');
  // ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node's install script would otherwise fetch its CUDA provider from
  // nuget.org (on Linux x64), and fail the whole install where only the npm registry can be reached. A global install
  // reads no project's allowScripts, so the package cannot say it for the user: README gives this command.
  run(npm, ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error', tarball], tmp, userEnv({ONNXRUNTIME_NODE_INSTALL: 'skip'}));
  const elsewhere = path.join(tmp, 'elsewhere');
  fs.mkdirSync(elsewhere);
  const env = userEnv({PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`});
  const cbp = (...args: string[]): string => run('cbp', args, elsewhere, env);
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version;
  assert.match(cbp('--version'), new RegExp(`^cbp/${version.replace(/\./g, '\\.')} `));
  const help = cbp('--help');
  for (const c of ['train', 'export', 'eval', 'import', 'info', 'plot', 'serve']) assert.match(help, new RegExp(`^  ${c} `, 'm'), `--help lists ${c}`);
  // A real run (on Linux through bin/run.js's second Node process with huge pages), relative to the folder it runs in.
  const trained = JSON.parse(cbp('train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--limit', '256', '--test-limit', '64', '--batch-size', '64', '--epochs', '1', '--out', 'run', '--json')) as {epochs: unknown[]; out: string};
  assert.equal(trained.epochs.length, 1);
  for (const f of ['weights.safetensors', 'curves.png']) assert.ok(fs.existsSync(path.join(elsewhere, 'run', f)), `run/${f} written where cbp ran`);
  cbp('export', '--checkpoint', 'run', '--out', 'lenet5_bin.onnx');
  const evaluated = JSON.parse(cbp('eval', '--onnx', 'lenet5_bin.onnx', '--data', 'mnist', '--limit', '64', '--json')) as {images: number; device: string};
  assert.deepEqual([evaluated.images, evaluated.device], [64, 'cpu']);
  assert.match(cbp('info', 'lenet5_bin.onnx'), /lenet5, constraint bin/);
  // The library, from a script outside any project, through NODE_PATH.
  const lib = run(process.execPath, ['-e', `const cbp = require('cbp'); console.log(cbp.VERSION, typeof cbp.train, require.resolve('cbp'))`], elsewhere, {...env, NODE_PATH: path.join(prefix, 'lib', 'node_modules')}).trim();
  assert.equal(lib, `${version} function ${path.join(prefix, 'lib', 'node_modules', 'cbp', 'dist', 'src', 'index.js')}`);
});

test('the packed package installs into a fresh folder and its library API works from there (CommonJS, ESM, TypeScript types)', () => {
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({name: 'consumer', version: '1.0.0', private: true}));
  run(npm, ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel', 'error', tarball], app);

  // CommonJS: the registries, a PyTorch import, an export verified in ONNX Runtime, and info on the result.
  const out = path.join(tmp, 'r50');
  const onnx = path.join(tmp, 'r50.onnx');
  fs.writeFileSync(path.join(app, 'use.js'), `
    const cbp = require('cbp');
    (async () => {
      const imported = cbp.importPth({file: ${JSON.stringify(path.join(FIXTURES, 'torch', 'resnet50_legacy.pth'))}, model: 'resnet50', quant: 'uni2', out: ${JSON.stringify(out)}, inputSize: 64});
      const exported = await cbp.exportCheckpoint({checkpoint: imported.out, format: 'onnx', out: ${JSON.stringify(onnx)}, weights: 'auto', verifyWith: 'float-onnx'});
      const info = cbp.info(${JSON.stringify(onnx)});
      let code = 'none';
      try { cbp.importPth({file: 'no-such.pth', model: 'resnet50', quant: 'bin', out: 'x'}); } catch (e) { code = e instanceof cbp.CbpError ? e.code : 'not a CbpError'; }
      // cbp serve's page is not compiled by tsc: it must ship as it is.
      const served = await cbp.serve({dir: ${JSON.stringify(tmp)}, port: 0});
      const page = await (await fetch(served.url)).text();
      const appJs = (await fetch(served.url + 'static/app.js')).status;
      await served.close();
      console.log(JSON.stringify({quants: cbp.QUANTS, version: cbp.VERSION, constraint: info.constraint, layers: info.layers.length, bytes: exported.bytes, code,
        page: page.includes('/static/app.js'), appJs,
        tf: Object.keys(require.cache).some((k) => k.includes('@tensorflow'))}));
    })().catch((e) => { console.error(e); process.exit(1); });`);
  const r = JSON.parse(run(process.execPath, ['use.js'], app)) as {quants: string[]; version: string; constraint: string; layers: number; bytes: number; code: string; tf: boolean; page: boolean; appJs: number};
  assert.deepEqual(r.quants, ['bin', 'ter', '1bit', '2bit', 'uni2']);
  assert.equal(r.version, (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version);
  assert.equal(r.constraint, 'uni2');
  assert.ok(r.layers > 0 && r.bytes > 0);
  assert.equal(r.code, 'NO_FILE');
  assert.equal(r.page, true, 'the installed cbp serves its page');
  assert.equal(r.appJs, 200, 'the installed cbp serves the page\'s script');
  assert.equal(r.tf, false, 'requiring cbp and exporting loads no TensorFlow.js');

  // ESM: named imports from the CommonJS build.
  fs.writeFileSync(path.join(app, 'use.mjs'), `import {train, evaluate, CONSTRAINTS} from 'cbp';\nconsole.log(typeof train, typeof evaluate, CONSTRAINTS.uni2.levels.length);\n`);
  assert.equal(run(process.execPath, ['use.mjs'], app).trim(), 'function function 4');

  // TypeScript: the declarations resolve, option types are unions from the registries, and a wrong constraint
  // is a compile error.
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const tsArgs = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'commonjs', '--moduleResolution', 'node', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types')];
  fs.writeFileSync(path.join(app, 'good.ts'), `import {train, type TrainOptions, type Quant} from 'cbp';
const q: Quant = 'uni2';
const opts: TrainOptions = {model: 'lenet5', quant: q, data: 'mnist', out: 'runs/x', seed: 1, batchSize: 256, lr: 1e-3, lrLambda: 1e-4, weightDecay: 1e-4, period: 20, backend: 'auto'};
export const run = (): Promise<number> => train(opts).then((r) => r.top1);
`);
  run(process.execPath, [tsc, ...tsArgs, 'good.ts'], app);
  fs.writeFileSync(path.join(app, 'bad.ts'), `import type {TrainOptions} from 'cbp';\nexport const bad: TrainOptions = {quant: '3bit'};\n`);
  const bad = spawnSync(process.execPath, [tsc, ...tsArgs, 'bad.ts'], {cwd: app, encoding: 'utf8'});
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /'"3bit"' is not assignable to type 'QuantOrNone( \| undefined)?'/);
});
