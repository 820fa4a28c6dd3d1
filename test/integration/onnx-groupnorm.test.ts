import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../src/core/errors';
import {Rng} from '../../src/core/rng';
import {exportCheckpoint} from '../../src/app/export';
import {importOnnx} from '../../src/app/import-onnx';
import {readCheckpoint} from '../../src/run/checkpoint';
import {FIXTURES, tempDir} from '../helpers';
import {cbpJson} from '../cli';
import {floatTensors, handMadeClassifier, int64Tensor, type Floats} from '../onnx-graphs';
import {exportImported, sessionLogits, trainImported} from '../onnx-runs';

/**
 * nn.GroupNorm and nn.InstanceNorm2d as torch 1.13 writes them at opset 13 (test/fixtures/scripts/make_onnx_fixtures.py:
 * norms.onnx, norms_running.onnx): imported onto the groupnorm kind with the file's logits, trained with --init,
 * exported and verified; InstanceNorm2d with running statistics and patterns that stop partway are refused, naming
 * what they lack. Its gradients are checked in kind-grads.test.ts, one CBP step of such a module in onnx-step.test.ts.
 */

const tmp = tempDir('cbp-onnx-groupnorm-');
const fixture = (name: string): string => path.join(FIXTURES, 'onnx', `${name}.onnx`);

/** The largest difference between two runs' logits, and the largest logit of the first. */
function difference(expected: Float32Array, got: Float32Array): {diff: number; largest: number} {
  assert.equal(got.length, expected.length);
  let diff = 0;
  let largest = 0;
  for (let i = 0; i < got.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - expected[i]));
    largest = Math.max(largest, Math.abs(expected[i]));
  }
  return {diff, largest};
}

test('norms.onnx: GroupNorm (4 groups, 1 group, affine=False) and InstanceNorm2d (affine and not) map onto groupnorm nodes under their module names; the float export gives the file\'s logits', async () => {
  const out = path.join(tmp, 'norms');
  const r = await importOnnx({file: fixture('norms'), out});
  assert.deepEqual(r.warnings, []);
  assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${r.maxDifference} (largest logit ${r.maxLogit})`);
  const ck = readCheckpoint(out);
  const nodes = ck.state.config.spec?.nodes ?? assert.fail('no spec');
  assert.deepEqual(nodes.flatMap((n) => (n.kind === 'groupnorm' ? [[n.name, n.channels, n.groups, n.eps, n.affine]] : [])), [
    ['gn1', 8, 4, 1e-5, true],
    ['in2', 12, 12, 1e-5, true],
    ['gn3', 12, 1, 1e-3, true],
    ['in4', 16, 16, 1e-5, false],
    ['gn5', 16, 2, 1e-5, false],
  ]);
  // Nothing of the patterns is left as other nodes: the convolutions, norms, ReLUs, the pool and the classifier only.
  assert.deepEqual([...new Set(nodes.map((n) => n.kind))], ['conv2d', 'groupnorm', 'relu', 'maxpool', 'globalavgpool', 'flatten', 'dense']);
  // The affine parameters under PyTorch's state_dict names and shapes [C]; none for the modules without them.
  for (const [key, shape] of [['gn1.weight', [8]], ['gn1.bias', [8]], ['in2.weight', [12]], ['in2.bias', [12]], ['gn3.weight', [12]], ['gn3.bias', [12]]] as const) {
    assert.deepEqual(ck.tensors.get(key)?.shape, shape, key);
  }
  assert.deepEqual([...ck.tensors.keys()].filter((k) => k.startsWith('in4.') || k.startsWith('gn5.')), []);
  // The run's float export (InstanceNormalization for one group per channel, torch's pattern otherwise) on inputs of
  // another seed and scale than the importer's own check.
  const onnx = path.join(tmp, 'norms_float.onnx');
  await exportCheckpoint({checkpoint: out, format: 'onnx', weights: 'float', out: onnx, verifyWith: 'float-onnx'});
  const n = 3;
  const rng = new Rng(99);
  const x = Float32Array.from({length: n * 28 * 28}, () => 2 * rng.normal());
  const {diff, largest} = difference(await sessionLogits(fs.readFileSync(fixture('norms')), x, [n, 1, 28, 28]), await sessionLogits(fs.readFileSync(onnx), x, [n, 1, 28, 28]));
  assert.ok(largest > 0.1, `largest logit ${largest}`);
  assert.ok(diff <= 1e-4 * largest, `logits differ by ${diff} (largest ${largest})`);
});

test('an import of GroupNorm and InstanceNorm2d trains one epoch with --init on MNIST; the affine weights learn; its export verifies; the TensorFlow.js engine refuses it, naming the kind', () => {
  const imported = path.join(tmp, 'norms-import');
  cbpJson(['import', fixture('norms'), '--out', imported]);
  const common = ['--data', 'mnist', '--limit', '256', '--test-limit', '200', '--batch-size', '64', '--no-plot'];
  trainImported({
    imported, out: path.join(tmp, 'norms-bin'), quant: 'bin', data: common,
    tfjsRefusal: /the TensorFlow\.js engine has no groupnorm \(layers gn1, in2, gn3, in4, gn5\)/,
    learns: ['gn1.weight', 'gn1.bias', 'in2.weight', 'in2.bias', 'gn3.weight', 'gn3.bias'],
  });
  exportImported(path.join(tmp, 'norms-bin'), path.join(tmp, 'norms-bin.onnx'));
});

/** Import of `file` must fail as unsupported with `re`, writing nothing. */
async function refused(what: string, file: string, re: RegExp): Promise<void> {
  const out = path.join(tmp, `refused-${what.replace(/\W/g, '_')}`);
  await assert.rejects(importOnnx({file, out}), (err: unknown) => {
    assert.ok(err instanceof CbpError && err.code === 'UNSUPPORTED_ONNX', `${what}: ${String(err)}`);
    assert.match(err.message, re, what);
    return true;
  });
  assert.ok(!fs.existsSync(out), what);
}

test('InstanceNorm2d with track_running_stats=True (a batch norm over the fixed batch\'s N·C instances) is refused, naming the module and why', async () => {
  await refused('running statistics', fixture('norms_running'), /unsupported: .*InstanceNorm2d with track_running_stats=True \(written as Reshape to \[1, N·C, H, W\] → BatchNormalization of its running statistics tiled over the export's fixed batch\): cbp maps instance norms that normalise each image by its own statistics \(track_running_stats=False\) \(1 node: \/norm\/Reshape\)/);
});

/** A 1×4×4 classifier written by hand: Conv (4 channels, value `c`), then `body` (writing `a`), pooling, Gemm. */
function handMade(name: string, body: object[], floats: Floats, ints: Record<string, number[]>): string {
  const int64s = Object.entries(ints).map(([n, v]) => int64Tensor(n, v));
  return handMadeClassifier(tmp, name, body, [...floatTensors(floats), ...int64s], {channels: 4, convBias: false, seed: 11});
}

test('GroupNorm\'s pattern maps only whole, as torch writes it; one that stops partway maps as its parts or is refused at the first that does not map; one whose constants differ is refused naming what it lacks', async () => {
  const floats: Floats = {
    ones: {dims: [2], values: [1, 1]},
    zeros: {dims: [2], values: [0, 0]},
    twos: {dims: [2], values: [2, 2]},
    'gn.weight': {dims: [4, 1, 1], values: [0.5, 1.5, -1, 2]},
    'gn.bias': {dims: [4, 1, 1], values: [0.1, -0.2, 0.3, 0.4]},
    flat: {dims: [4], values: [0.5, 1.5, -1, 2]},
    'onnx::Mul_9': {dims: [4, 1, 1], values: [0.5, 1.5, -1, 2]},
  };
  const ints = {grouped: [0, 2, -1], back: [0, 4, 4, 4]};
  /** torch's nodes of GroupNorm(2, 4), up to `upto` of them, the last writing `a` (its IN's scale `scale`, Mul's `weight`). */
  const pattern = (upto: number, scale = 'ones', weight = 'gn.weight'): object[] => {
    const all = [
      {name: '/gn/Reshape', op_type: 'Reshape', input: ['c', 'grouped'], output: ['r']},
      {name: '/gn/InstanceNormalization', op_type: 'InstanceNormalization', input: ['r', scale, 'zeros'], output: ['i'], attribute: [{name: 'epsilon', type: 1, f: 1e-5}]},
      {name: '/gn/Reshape_1', op_type: 'Reshape', input: ['i', 'back'], output: ['b']},
      {name: '/gn/Mul', op_type: 'Mul', input: ['b', weight], output: ['m']},
      {name: '/gn/Add', op_type: 'Add', input: ['m', 'gn.bias'], output: ['s']},
    ].slice(0, upto);
    return [...all, {name: '/act/Relu', op_type: 'Relu', input: [all[all.length - 1].output[0]], output: ['a']}];
  };
  const whole = await importOnnx({file: handMade('gn-by-hand', pattern(5), floats, ints), out: path.join(tmp, 'gn-by-hand')});
  assert.ok(whole.maxDifference <= 1e-5 * Math.max(1, whole.maxLogit), `${whole.maxDifference}`);
  const ck = readCheckpoint(path.join(tmp, 'gn-by-hand'));
  assert.deepEqual(ck.state.config.spec?.nodes.map((n) => n.kind), ['conv2d', 'groupnorm', 'relu', 'globalavgpool', 'flatten', 'dense']);
  assert.deepEqual([...(ck.tensors.get('gn.weight')?.data ?? [])], [0.5, 1.5, -1, 2]);
  // A pattern that stops partway is no GroupNorm; its parts map by themselves where each is a layer of its own (the
  // reshape kind's per-sample Reshape to [N, G, -1] and back, an instance norm of the G groups), with the file's
  // logits, or are refused at the first part that is not.
  const parts: [string, object[], string[]][] = [
    ['no Mul', pattern(3), ['conv2d', 'reshape', 'groupnorm', 'reshape', 'relu', 'globalavgpool', 'flatten', 'dense']],
    // The Mul by the module's weight without the Add: a learned scale per channel (the layerscale kind).
    ['no Add', pattern(4), ['conv2d', 'reshape', 'groupnorm', 'reshape', 'layerscale', 'relu', 'globalavgpool', 'flatten', 'dense']],
    ['no InstanceNormalization', [{name: '/r/Reshape', op_type: 'Reshape', input: ['c', 'grouped'], output: ['r']}, {name: '/r/Reshape_1', op_type: 'Reshape', input: ['r', 'back'], output: ['a']}], ['conv2d', 'reshape', 'reshape', 'globalavgpool', 'flatten', 'dense']],
  ];
  for (const [what, body, kinds] of parts) {
    const out = path.join(tmp, what.replace(/\W/g, '_'));
    const r = await importOnnx({file: handMade(`${what.replace(/\W/g, '_')}_parts`, body, floats, ints), out});
    assert.ok(r.maxDifference <= 1e-5 * Math.max(1, r.maxLogit), `${what}: ${r.maxDifference}`);
    assert.deepEqual(readCheckpoint(out).state.config.spec?.nodes.map((n) => n.kind), kinds, what);
  }
  const cases: [string, object[], RegExp][] = [
    ['no Reshape back', pattern(2), /GlobalAveragePool whose globalavgpool expects an image \[C, H, W\], its input is \[2, 32\] \(1 node: \/pool\/GlobalAveragePool\)/],
    ['no Add, an anonymous weight', pattern(4, 'ones', 'onnx::Mul_9'), /refused Mul by a constant \(1 node: \/gn\/Mul\)/],
    ['a scale other than ones', pattern(5, 'twos'), /unsupported: InstanceNormalization in a GroupNorm pattern \(.*\) with a scale other than 2 ones or a bias other than 2 zeros \(1 node: \/gn\/InstanceNormalization\)/],
    ['a weight not per channel', pattern(5, 'ones', 'flat'), /unsupported: Mul in a GroupNorm pattern \(.*\) by other than a weight of dims \[4, 1, 1\] \(1 node: \/gn\/Mul\)/],
  ];
  for (const [what, body, re] of cases) await refused(what, handMade(what.replace(/\W/g, '_'), body, floats, ints), re);
});
