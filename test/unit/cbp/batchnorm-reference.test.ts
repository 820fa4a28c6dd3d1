import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {tf} from '../../../src/train/tfjs/tf';
import {selectBackend} from '../../../src/train/tfjs/backend';
import type {Weights} from '../../../src/core/weights';
import {type BatchStats, Network} from '../../../src/train/tfjs/network';
import {SpecBuilder} from '../../../models/builder';
import type {ModelSpec} from '../../../models/spec';
import {FIXTURES} from '../../helpers';
import {assertClose} from './torch-fixture';

interface BatchNormCase {
  eps: number;
  weight: number[];
  bias: number[];
  running_mean: number[];
  running_var: number[];
  eval: {x_nhwc: number[]; y: number[]};
  train: {x_nhwc: number[]; y: number[]; running_mean: number[]; running_var: number[]; eval_after: number[]};
}

// Made by test/fixtures/scripts/make_batchnorm_reference.py with torch.nn.BatchNorm2d.
const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'batchnorm_reference.json'), 'utf8')) as {shape_nchw: number[]; cases: BatchNormCase[]};
const [n, c, h, w] = ref.shape_nchw;

/** One batch norm, flattened in PyTorch's NCHW order like the fixture's outputs. The 1e-5 case relies on the builder's default. */
function bnSpec(eps: number): ModelSpec {
  const b = new SpecBuilder('bn-only', [c, h, w]);
  if (eps === 1e-5) b.bn('bn', c);
  else b.bn('bn', c, eps);
  b.flatten('flatten');
  return b.build(c * h * w);
}

function weightsOf(k: BatchNormCase): Weights {
  const t = (data: number[]): {shape: number[]; data: Float32Array} => ({shape: [c], data: Float32Array.from(data)});
  return new Map([
    ['bn.weight', t(k.weight)],
    ['bn.bias', t(k.bias)],
    ['bn.running_mean', t(k.running_mean)],
    ['bn.running_var', t(k.running_var)],
  ]);
}

function forward(net: Network, x: number[], training: boolean, stats?: Map<string, BatchStats>): Float32Array {
  return tf.tidy(() => net.forward(tf.tensor4d(x, [n, h, w, c]), training, stats).dataSync() as Float32Array);
}

for (const backend of ['cpu', 'wasm']) {
  for (const k of ref.cases) {
    test(`batch norm with eps ${k.eps} and running variances of 1e-5..1e-4 matches PyTorch's BatchNorm2d in eval mode, on ${backend}`, async () => {
      await selectBackend(backend);
      const net = new Network(bnSpec(k.eps), 'none', weightsOf(k));
      try {
        assertClose(forward(net, k.eval.x_nhwc, false), k.eval.y, 'eval output');
      } finally {
        net.dispose();
      }
    });

    test(`batch norm with eps ${k.eps} on a batch of tiny variance matches PyTorch's BatchNorm2d in training mode: output, running mean and unbiased running variance, on ${backend}`, async () => {
      await selectBackend(backend);
      const net = new Network(bnSpec(k.eps), 'none', weightsOf(k));
      try {
        const stats = new Map<string, BatchStats>();
        assertClose(forward(net, k.train.x_nhwc, true, stats), k.train.y, 'training output');
        net.updateRunningStats(stats);
        const after = net.toWeights();
        assertClose((after.get('bn.running_mean') ?? assert.fail('no running mean')).data, k.train.running_mean, 'running mean');
        assertClose((after.get('bn.running_var') ?? assert.fail('no running variance')).data, k.train.running_var, 'running variance');
        assertClose(forward(net, k.eval.x_nhwc, false), k.train.eval_after, 'eval output with the updated statistics');
      } finally {
        net.dispose();
      }
    });
  }
}
