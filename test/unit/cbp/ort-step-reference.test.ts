import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../../../src/run/checkpoint';
import {createOrtEngine} from '../../../src/train/ort-engine';
import {SpecBuilder} from '../../../models/builder';
import type {ModelSpec} from '../../../models/spec';
import {FIXTURES} from '../../helpers';
import {shapeOnlySource, toNCHW} from '../../engine-helpers';
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

test('the ONNX Runtime engine: two CBP steps match the reference training loop in PyTorch (loss, Lagrangian, every weight, momentum, batch-norm statistics)', async () => {
  assert.equal(ref.quant, 'ter');
  const stored = new Map([...weightsOf(ref.lambda, LAMBDA_PREFIX), ...weightsOf(ref.momentum, MOMENTUM_PREFIX)]);
  const engine = await createOrtEngine({
    spec: tinyStepSpec(),
    quant: 'ter',
    weights: weightsOf(ref.weights),
    stored,
    weightDecay: ref.weight_decay,
    lrLambda: 1e-4,
    constraintTerm: true,
    source: shapeOnlySource(ref.input_shape, ref.classes),
    device: 'cpu',
  });
  try {
    for (const [i, step] of ref.steps.entries()) {
      const n = step.labels.length;
      const r = await engine.step({x: toNCHW(step.x_nhwc.data, n, ref.input_shape), y: Int32Array.from(step.labels), count: n}, ref.ucs, ref.lr);
      assert.ok(r.finite);
      assert.ok(Math.abs(r.loss - step.loss) <= 1e-5 * Math.max(1, step.loss), `step ${i + 1} loss ${r.loss}, PyTorch ${step.loss}`);
      assert.ok(Math.abs(r.lagrangian - step.lagrangian) <= 1e-5 * Math.max(1, step.lagrangian), `step ${i + 1} Lagrangian ${r.lagrangian}, PyTorch ${step.lagrangian}`);
      const state = engine.state();
      for (const [key, t] of Object.entries(step.weights)) assertClose((state.get(key) ?? assert.fail(`no ${key}`)).data, t.data, `step ${i + 1} ${key}`);
      for (const [key, t] of Object.entries(step.momentum)) assertClose((state.get(MOMENTUM_PREFIX + key) ?? assert.fail(`no momentum for ${key}`)).data, t.data, `step ${i + 1} momentum of ${key}`);
    }
  } finally {
    await engine.close();
  }
});
