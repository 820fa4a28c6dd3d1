import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {heldRun, removeRunFiles} from '../../src/run/run-folder';
import {parseRunState, writeCheckpoint} from '../../src/run/checkpoint';
import {initialWeights} from '../../src/train/init';
import {resolveTrainOptions, type TrainOptions} from '../../src/train/options';
import {openSource} from '../../src/data/source';
import {cardText, checkpointCard} from '../../src/app/card';
import {getModel} from '../../models/index';
import {RUN_CONFIG, runState} from '../run-state';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-run-folder-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));

/** A folder holding a run as `cbp train` leaves it: state.json (a copy of the checkpoint's state) and the files beside it. */
function runFolder(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, {recursive: true});
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

test('a folder holds a run when it has a checkpoint (weights.safetensors or state.json), described from its state.json', () => {
  assert.equal(heldRun(runFolder('empty', {})), undefined);
  assert.equal(heldRun(runFolder('pictures', {'curves.png': 'x', 'model.onnx': 'x'})), undefined, 'pictures and exports alone are no run');
  assert.equal(heldRun(path.join(tmp, 'no-such-folder')), undefined);
  const held = heldRun(runFolder('run', {'state.json': JSON.stringify(runState(RUN_CONFIG, 2))}));
  assert.deepEqual(held, {summary: 'lenet5 bin on mnist, epoch 2 of 4', epoch: 2, epochs: 4});
  const damaged = heldRun(runFolder('damaged', {'weights.safetensors': 'x', 'state.json': '{'}));
  assert.match(damaged?.summary ?? '', /^its state\.json unreadable: .*state\.json: run state is not JSON/);
});

test('removing a run\'s files takes the files cbp names and their interrupted writes, and nothing else', () => {
  const dir = runFolder('full', {
    'weights.safetensors': 'x', 'state.json': 'x', 'progress.tsv': 'x', 'curves.png': 'x', 'weights.png': 'x',
    '.weights.safetensors.0123456789abcdef01234567.tmp': 'x',
    'notes.txt': 'mine', 'state.json.bak': 'mine', '.curves.png.mine.tmp': 'mine',
  });
  fs.mkdirSync(path.join(dir, 'progress.tsv.d'));
  assert.deepEqual(removeRunFiles(dir).sort(), ['.weights.safetensors.0123456789abcdef01234567.tmp', 'curves.png', 'progress.tsv', 'state.json', 'weights.png', 'weights.safetensors']);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['.curves.png.mine.tmp', 'notes.txt', 'progress.tsv.d', 'state.json.bak']);
});

test('the run state keeps --test-limit and each record\'s test images; a state from before them reads as no limit', () => {
  const old = parseRunState(JSON.stringify(runState(RUN_CONFIG, 2)), 'old/state.json');
  assert.equal(old.config.testLimit, undefined);
  assert.equal(old.progress[1].testImages, undefined);
  const state = runState({...RUN_CONFIG, testLimit: 256}, 2);
  const kept = parseRunState(JSON.stringify({...state, progress: state.progress.map((r) => ({...r, testImages: 256}))}), 'new/state.json');
  assert.equal(kept.config.testLimit, 256);
  assert.equal(kept.progress[1].testImages, 256);
  assert.throws(() => parseRunState(JSON.stringify(runState({...RUN_CONFIG, testLimit: 0}, 1)), 'bad/state.json'), /bad\/state\.json: run state 'config\.testLimit' is 0, expected an integer in \[1, /);
});

test('the model card says how many test images its top-1 came from, and its command reproduces the limits', () => {
  const spec = getModel('lenet5', 10, [1, 28, 28]);
  const state = runState({...RUN_CONFIG, testLimit: 256}, 2);
  const limited = cardText(checkpointCard({...state, progress: state.progress.map((r) => ({...r, testImages: 256}))}, spec));
  assert.equal(limited.metadata['cbp.top1_images'], '256');
  const source = JSON.parse(limited.metadata['cbp.source']) as {command: string; top1Images: number};
  assert.equal(source.top1Images, 256);
  assert.match(source.command, / --limit 512 --test-limit 256( |$)/);
  assert.match(limited.docString, /\(test top-1 70\.00% on 256 test images after 2 epochs\)/);
  // A run from before cbp kept them: nothing is made up.
  const old = cardText(checkpointCard(runState(RUN_CONFIG, 2), spec));
  assert.equal(old.metadata['cbp.top1_images'], undefined);
  assert.doesNotMatch(old.metadata['cbp.source'], /--test-limit/);
  assert.match(old.docString, /\(test top-1 70\.00% after 2 epochs\)/);
});

/** The run options resolved against the real MNIST source, as `cbp train` resolves them, before anything is trained. */
function resolve(opts: TrainOptions) {
  return resolveTrainOptions({model: 'lenet5', quant: 'bin', data: 'mnist', limit: 64, engine: 'onnxruntime', ...opts}, undefined, (data, limits, side) => openSource(data, {need: 'train', ...limits, side}));
}

test('a new run refuses an --out that holds a run, names it and both ways on; force replaces it; the default folder says it is the default', () => {
  const dir = runFolder('taken', {'state.json': JSON.stringify(runState(RUN_CONFIG, 2)), 'weights.safetensors': 'x'});
  assert.throws(() => resolve({out: dir}), (e: Error) => e.message === `--out ${dir}: holds a run (lenet5 bin on mnist, epoch 2 of 4); use --resume ${dir} to continue it, or --force to replace it`);
  const done = runFolder('done', {'state.json': JSON.stringify(runState(RUN_CONFIG, 4))});
  assert.throws(() => resolve({out: done}), /: holds a run \(lenet5 bin on mnist, epoch 4 of 4\); use --resume \S+done with --epochs above 4 to train it further, or --force to replace it$/);
  assert.deepEqual(resolve({out: dir, force: true}).replaces, {summary: 'lenet5 bin on mnist, epoch 2 of 4', epoch: 2, epochs: 4});
  assert.equal(resolve({out: path.join(tmp, 'fresh'), force: true}).replaces, undefined, 'force on an empty folder replaces nothing');
  const float = path.join(tmp, 'float');
  const spec = getModel('lenet5', 10, [1, 28, 28]);
  writeCheckpoint(float, runState({...RUN_CONFIG, quant: 'none'}, 4), initialWeights(spec, 'none', 1));
  assert.throws(() => resolve({out: float, force: true, init: float}), /--init \S+float: the run --force would replace; the new run starts from its weights, so write it to another --out/);
  const cwd = process.cwd();
  try {
    process.chdir(runFolder('cwd', {}));
    runFolder('cwd/runs/lenet5-bin-mnist', {'state.json': JSON.stringify(runState(RUN_CONFIG, 1))});
    assert.throws(() => resolve({}), (e: Error) => e.message === `${path.join('runs', 'lenet5-bin-mnist')} (the default --out): holds a run (lenet5 bin on mnist, epoch 1 of 4); use --resume ${path.join('runs', 'lenet5-bin-mnist')} to continue it, or --force to replace it, or --out to write elsewhere`);
  } finally {
    process.chdir(cwd);
  }
});

test('a new run records its limits, checked: --test-limit below 1 is refused naming the flag', () => {
  const r = resolve({out: path.join(tmp, 'limits'), testLimit: 32});
  assert.equal(r.config.limit, 64);
  assert.equal(r.config.testLimit, 32);
  assert.equal(r.source.test.count, 32);
  assert.equal(resolve({out: path.join(tmp, 'limits')}).config.testLimit, undefined, 'no limit given: none recorded');
  assert.throws(() => resolve({out: path.join(tmp, 'limits'), testLimit: 0}), /--test-limit 0: expected an integer ≥ 1/);
});
