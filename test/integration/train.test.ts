import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {tf} from '../../src/train/tfjs/tf';
import {readCheckpoint, modelWeights} from '../../src/run/checkpoint';
import {Network} from '../../src/train/tfjs/network';
import {getModel} from '../../models/index';
import type {TrainResult} from '../../src/train/trainer';
import {cbp, cbpJson, errorText} from '../cli';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-train-');
const floatRun = path.join(tmp, 'float');
const common = ['--model', 'lenet5', '--data', 'mnist', '--limit', '4096', '--batch-size', '64', '--backend', 'wasm'];

test('float LeNet-5 trained on 4,096 real MNIST images is far above chance on the 10,000 test images', () => {
  const r = cbpJson<TrainResult>(['train', ...common, '--quant', 'none', '--epochs', '2', '--lr', '0.05', '--out', floatRun]);
  assert.equal(r.epochs.length, 2);
  assert.ok(r.top1 > 0.9, `top-1 ${r.top1}`);
  assert.ok(r.top5 >= r.top1);
  for (const f of ['weights.safetensors', 'state.json', 'progress.tsv']) assert.ok(fs.existsSync(path.join(floatRun, f)), f);
  const tsv = fs.readFileSync(path.join(floatRun, 'progress.tsv'), 'utf8').trim().split('\n');
  assert.equal(tsv.length, 3);
  assert.match(tsv[0], /^epoch\ttop1\ttop5\tcfs\tloss\tlagrangian\tucs\tlambda_mean/);
});

for (const quant of ['bin', 'ter'] as const) {
  test(`CBP ${quant} from the float model stays accurate and every weight the model uses is a level × the layer's scale`, async () => {
    await tf.setBackend('cpu');
    const out = path.join(tmp, quant);
    const r = cbpJson<TrainResult>(['train', ...common, '--quant', quant, '--epochs', '1', '--init', floatRun, '--out', out]);
    assert.ok(r.top1 > 0.9, `top-1 ${r.top1}`);
    assert.ok(r.cfs > 0 && Number.isFinite(r.cfs));
    assert.deepEqual(r.histograms.map((h) => h.layer), ['conv2', 'fc1']);
    // Independently of the trainer: rebuild the model from the checkpoint and inspect the forward weights.
    const ck = readCheckpoint(out);
    const spec = getModel('lenet5', 10, [1, 28, 28]);
    const net = new Network(spec, quant, modelWeights(ck.tensors));
    const levels = quant === 'bin' ? [-1, 1] : [-1, 0, 1];
    for (const layer of net.constrained) {
      const allowed = new Set(levels.map((l) => Math.fround(l * layer.scale)));
      const used = tf.tidy(() => net.forwardWeight(layer.node.name).dataSync());
      let bad = 0;
      for (const v of used) if (!allowed.has(v)) bad++;
      assert.equal(bad, 0, `${layer.node.name}: ${bad} weights off the levels`);
      const hist = r.histograms.find((h) => h.layer === layer.node.name);
      assert.equal(hist?.counts.reduce((a, b) => a + b, 0), used.length);
    }
    net.dispose();
  });
}

test('a run stopped after one epoch and resumed reaches the same weights as an uninterrupted run', () => {
  const args = ['train', '--model', 'lenet5', '--data', 'mnist', '--limit', '1024', '--batch-size', '64', '--backend', 'wasm', '--quant', 'bin', '--init', floatRun];
  const whole = path.join(tmp, 'whole');
  cbpJson<TrainResult>([...args, '--epochs', '2', '--out', whole]);
  const split = path.join(tmp, 'split');
  cbpJson<TrainResult>([...args, '--epochs', '1', '--out', split]);
  const resumed = cbpJson<TrainResult>(['train', '--resume', split, '--epochs', '2', '--backend', 'wasm']);
  assert.equal(resumed.epochs.length, 2);
  const a = readCheckpoint(whole).tensors;
  const b = readCheckpoint(split).tensors;
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, t] of a) assert.deepEqual(b.get(k)?.data, t.data, k);
});

test('bad flags are refused with the flag, the value and what was expected', () => {
  const m = cbp(['train', '--model', 'vgg99', '--quant', 'bin', '--limit', '10']);
  assert.notEqual(m.status, 0);
  assert.match(errorText(m.stderr), /--model vgg99: unknown model, expected one of lenet5, mlp/);
  const q = cbp(['train', '--quant', '3bit', '--limit', '10']);
  assert.match(errorText(q.stderr), /--quant 3bit: unknown constraint, expected one of none, bin, ter, 1bit, 2bit/);
  const lr = cbp(['train', '--lr', '-1', '--limit', '10']);
  assert.match(errorText(lr.stderr), /--lr -1: expected a finite number > 0/);
  const b = cbp(['train', '--batch-size', '0', '--limit', '10']);
  assert.match(errorText(b.stderr), /--batch-size 0: expected an integer ≥ 2/);
  const w = cbp(['train', '--workers', 'two', '--limit', '10']);
  assert.match(errorText(w.stderr), /--workers two: expected 'auto' or a whole number from 1 to 64/);
  const w0 = cbp(['train', '--workers', '0', '--limit', '10']);
  assert.match(errorText(w0.stderr), /--workers 0: expected 'auto' or a whole number from 1 to 64/);
  const r = cbp(['train', '--resume', path.join(tmp, 'nothing-here')]);
  assert.match(errorText(r.stderr), /--resume .*nothing-here: no such checkpoint folder/);
});

test('--width sets the channel count of a residual network, and a run started from it keeps that width', () => {
  const small = ['--model', 'resnet20', '--data', 'mnist', '--limit', '64', '--test-limit', '64', '--batch-size', '32', '--epochs', '1', '--backend', 'wasm', '--no-plot'];
  const narrow = path.join(tmp, 'r20-w4');
  cbpJson<TrainResult>(['train', ...small, '--quant', 'none', '--width', '4', '--out', narrow]);
  const shapes = (dir: string): Map<string, readonly number[]> => new Map([...modelWeights(readCheckpoint(dir).tensors)].map(([k, t]) => [k, t.shape]));
  const a = shapes(narrow);
  assert.deepEqual(a.get('conv1.weight'), [4, 1, 3, 3]);
  assert.deepEqual(a.get('layer3.2.conv2.weight'), [16, 16, 3, 3]);
  assert.deepEqual(a.get('fc.weight'), [10, 16]);
  const bin = path.join(tmp, 'r20-w4-bin');
  cbpJson<TrainResult>(['train', ...small, '--quant', 'bin', '--init', narrow, '--out', bin]);
  assert.deepEqual(shapes(bin).get('layer3.2.conv2.weight'), [16, 16, 3, 3]);
  assert.equal(readCheckpoint(bin).state.config.base, 4);

  const fixed = cbp(['train', '--model', 'lenet5', '--width', '8', '--limit', '10']);
  assert.match(errorText(fixed.stderr), /--width 8: lenet5 has a fixed width; --width applies to alexnet, resnet18, resnet20, resnet50/);
  const zero = cbp(['train', '--model', 'resnet20', '--width', '0', '--limit', '10']);
  assert.match(errorText(zero.stderr), /--width 0: expected an integer in \[1, 4096\]/);
  const clash = cbp(['train', ...small, '--quant', 'bin', '--init', narrow, '--width', '8', '--out', path.join(tmp, 'r20-clash')]);
  assert.match(errorText(clash.stderr), /--width 8: the --init weights .*r20-w4 have width 4; leave --width out to keep it/);
  const resumed = cbp(['train', '--resume', bin, '--epochs', '2', '--width', '8', '--backend', 'wasm']);
  assert.match(errorText(resumed.stderr), /--width 8: the run in .*r20-w4-bin has width 4; a resumed run keeps its width/);
});
