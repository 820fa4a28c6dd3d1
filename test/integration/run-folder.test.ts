import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {readCheckpoint} from '../../src/run/checkpoint';
import type {TrainResult} from '../../src/train/trainer';
import {cbp, cbpJson, errorText} from '../cli';
import {FIXTURES, tempDir} from '../helpers';

const tmp = tempDir('cbp-run-folder-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const run = path.join(tmp, 'b');
// Tiny real runs on the default engine: 256 training images, 64 test images, one epoch.
const tiny = ['--model', 'lenet5', '--data', 'mnist', '--limit', '256', '--test-limit', '64', '--batch-size', '64', '--epochs', '1'];

test('--out of an existing run is refused, naming it; --force replaces it and removes the old run\'s checkpoint, pictures and exports, nothing else', () => {
  cbpJson<TrainResult>(['train', ...tiny, '--quant', 'bin', '--out', run]);
  cbpJson(['export', '--checkpoint', run, '--out', path.join(run, 'lenet5_bin.onnx')]);
  fs.writeFileSync(path.join(run, 'notes.txt'), 'mine');
  fs.writeFileSync(path.join(run, 'other.onnx'), 'not cbp\'s');
  const before = fs.readFileSync(path.join(run, 'weights.safetensors'));
  assert.deepEqual(fs.readdirSync(run).sort(), ['curves.png', 'lenet5_bin.onnx', 'notes.txt', 'other.onnx', 'progress.tsv', 'state.json', 'weights.png', 'weights.safetensors']);

  const refused = cbp(['train', ...tiny, '--quant', 'ter', '--out', run, '--no-plot']);
  assert.equal(refused.status, 2);
  assert.match(errorText(refused.stderr), new RegExp(`--out ${run}: holds a run \\(lenet5 bin on mnist, epoch 1 of 1\\); use --resume ${run} with --epochs above 1 to train it further, or --force to replace it`));
  assert.deepEqual(fs.readFileSync(path.join(run, 'weights.safetensors')), before, 'a refused run writes nothing');

  // --no-plot: the old run's pictures must not stay behind to describe the new one.
  const forced = cbp(['train', ...tiny, '--quant', 'ter', '--out', run, '--no-plot', '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stderr, new RegExp(`--force: replacing the run in ${run} \\(lenet5 bin on mnist, epoch 1 of 1\\): removed curves\\.png, progress\\.tsv, state\\.json, weights\\.png, weights\\.safetensors, lenet5_bin\\.onnx`));
  assert.deepEqual(fs.readdirSync(run).sort(), ['notes.txt', 'other.onnx', 'progress.tsv', 'state.json', 'weights.safetensors']);
  assert.equal(readCheckpoint(run).state.config.quant, 'ter');

  const both = cbp(['train', '--resume', run, '--force']);
  assert.match(errorText(both.stderr), new RegExp(`--force: replaces the run an --out folder holds; --resume ${run} continues its run in place, leave --force out`));
});

test('a run keeps its --test-limit: recorded in its state and records, kept on --resume, a different one refused; a finished run resumed has nothing to do', () => {
  const out = path.join(tmp, 'limited');
  const first = cbpJson<TrainResult>(['train', ...tiny, '--quant', 'bin', '--out', out, '--no-plot']);
  assert.equal(first.epochs[0].testImages, 64);
  const state = readCheckpoint(out).state;
  assert.equal(state.config.testLimit, 64);
  assert.equal(state.config.limit, 256);

  // Finished: a repeated --resume (a requeued job) succeeds and says so, instead of "epochs 2..1".
  const done = cbp(['train', '--resume', out, '--no-plot']);
  assert.equal(done.status, 0, done.stderr);
  assert.match(done.stderr, new RegExp(`${out}: already finished \\(epoch 1 of 1\\); nothing to do — raise --epochs to train further`));
  assert.doesNotMatch(done.stderr, /epochs 2\.\.1/);

  const other = cbp(['train', '--resume', out, '--epochs', '2', '--test-limit', '128']);
  assert.equal(other.status, 2);
  assert.match(errorText(other.stderr), new RegExp(`--test-limit 128: the run in ${out} uses 64 test images \\(its --test-limit\\); a resumed run keeps its limits, leave --test-limit out`));
  const more = cbp(['train', '--resume', out, '--epochs', '2', '--limit', '512']);
  assert.match(errorText(more.stderr), /--limit 512: the run in \S+ uses 256 training images \(its --limit\); a resumed run keeps its limits, leave --limit out/);

  const resumed = cbpJson<TrainResult>(['train', '--resume', out, '--epochs', '2', '--no-plot']);
  assert.deepEqual(resumed.epochs.map((e) => e.testImages), [64, 64], 'the resumed epoch is evaluated on the run\'s 64 test images');
  const fewer = cbp(['train', '--resume', out, '--epochs', '1']);
  assert.match(errorText(fewer.stderr), new RegExp(`--epochs 1: the run in ${out} has already trained 2 epochs; give more than 2 to train it further`));
});

test('cbp import --out of an existing run is refused the same way; --force writes the new checkpoint and then removes the old run\'s pictures', () => {
  const dir = path.join(tmp, 'imported');
  const file = path.join(FIXTURES, 'onnx', 'resnet_bn.onnx');
  const first = cbp(['import', file, '--out', dir]);
  assert.equal(first.status, 0, first.stderr);
  fs.writeFileSync(path.join(dir, 'curves.png'), 'a picture of the old run');
  const again = cbp(['import', file, '--out', dir, '--quant', 'ter']);
  assert.equal(again.status, 2);
  assert.match(errorText(again.stderr), new RegExp(`--out ${dir}: holds a run \\(resnet_bn none on unknown, epoch 0 of \\d+\\); give another --out, or --force to replace it`));
  assert.equal(readCheckpoint(dir).state.config.quant, 'none', 'a refused import writes nothing');
  const forced = cbp(['import', file, '--out', dir, '--quant', 'ter', '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(readCheckpoint(dir).state.config.quant, 'ter');
  assert.ok(!fs.existsSync(path.join(dir, 'curves.png')));
});
