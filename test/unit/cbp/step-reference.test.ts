import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {tf} from '../../../src/core/tf';
import {selectBackend} from '../../../src/core/backend';
import {LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../../../src/run/checkpoint';
import {fromTfjs} from '../../../src/train/layout';
import {Network} from '../../../src/train/network';
import {cbpStep, createTrainState, disposeTrainState} from '../../../src/train/step';
import {SpecBuilder} from '../../../models/builder';
import type {ModelSpec} from '../../../models/spec';
import {FIXTURES} from '../../helpers';
import {assertClose, type TensorJson, weightsOf} from './torch-fixture';

interface StepReference {
  quant: string;
  ucs: number;
  lr: number;
  weight_decay: number;
  classes: number;
  input_shape: [number, number, number];
  weights: Record<string, TensorJson>;
  lambda: Record<string, TensorJson>;
  momentum: Record<string, TensorJson>;
  steps: {x_nhwc: TensorJson; labels: number[]; loss: number; lagrangian: number; weights: Record<string, TensorJson>; momentum: Record<string, TensorJson>}[];
}

// Made by test/fixtures/scripts/make_step_reference.py: two steps of the reference's training loop in PyTorch.
const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'step_reference.json'), 'utf8')) as StepReference;

/** The network of make_step_reference.py, node for node. */
function tinyStepSpec(): ModelSpec {
  const b = new SpecBuilder('tiny-step', ref.input_shape);
  b.conv('conv1', 2, 4, 3, {padding: 1, bias: true, constrained: false});
  b.bn('bn1', 4);
  b.relu('relu1');
  b.maxpool('pool1', 2, 2);
  b.conv('conv2', 4, 6, 3, {padding: 1, constrained: true});
  b.bn('bn2', 6);
  b.relu('relu2');
  b.flatten('flatten');
  b.dense('fc1', 54, 8, {constrained: true});
  b.relu('relu3');
  b.dense('fc2', 8, ref.classes, {bias: true, constrained: false});
  return b.build(ref.classes);
}

function scalarClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${what}: ${actual}, PyTorch ${expected}`);
}

for (const backend of ['cpu', 'wasm']) {
  test(`two CBP steps (λ term, ±1 gradient clipping, weight decay, momentum 0.9, clamp to [−1, 1], batch-norm statistics) match the reference's training loop in PyTorch, on ${backend}`, async () => {
    await selectBackend(backend);
    assert.equal(ref.quant, 'ter');
    const net = new Network(tinyStepSpec(), 'ter', weightsOf(ref.weights));
    // λ and the momentum buffers enter as a resumed checkpoint holds them, in PyTorch's layout.
    const stored = new Map([...weightsOf(ref.lambda, LAMBDA_PREFIX), ...weightsOf(ref.momentum, MOMENTUM_PREFIX)]);
    const st = createTrainState(net, ref.weight_decay, ref.classes, stored);
    try {
      for (const [i, step] of ref.steps.entries()) {
        const n = step.labels.length;
        const r = await cbpStep(st, Float32Array.from(step.x_nhwc.data), Int32Array.from(step.labels), n, ref.input_shape, ref.ucs, ref.lr);
        assert.ok(r.finite);
        scalarClose(r.loss, step.loss, `step ${i + 1} cross-entropy`);
        scalarClose(r.lagrangian, step.lagrangian, `step ${i + 1} Lagrangian`);
        const weights = net.toWeights();
        for (const [key, t] of Object.entries(step.weights)) {
          assertClose((weights.get(key) ?? assert.fail(`no ${key}`)).data, t.data, `step ${i + 1} ${key}`);
        }
        for (const info of net.infos.filter((f) => f.trainable)) {
          const buf = st.momentum.get(info.key) ?? assert.fail(`no momentum for ${info.key}`);
          const data = tf.tidy(() => fromTfjs(info, buf).dataSync());
          assertClose(data, (step.momentum[info.key] ?? assert.fail(`PyTorch has no momentum for ${info.key}`)).data, `step ${i + 1} momentum of ${info.key}`);
        }
      }
    } finally {
      disposeTrainState(st);
      net.dispose();
    }
  });
}
