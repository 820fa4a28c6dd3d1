import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../../../src/run/checkpoint';
import {createOrtEngine} from '../../../src/train/ort/engine';
import {shapeOnlySource, toNCHW} from '../../engine-helpers';
import {assertClose, weightsOf, stepReference, tinyStepSpec} from './torch-fixture';

const ref = stepReference();

test('the ONNX Runtime engine: two CBP steps match the reference training loop in PyTorch (loss, Lagrangian, every weight, momentum, batch-norm statistics)', async () => {
  assert.equal(ref.quant, 'ter');
  const stored = new Map([...weightsOf(ref.lambda, LAMBDA_PREFIX), ...weightsOf(ref.momentum, MOMENTUM_PREFIX)]);
  const engine = await createOrtEngine({
    spec: tinyStepSpec(ref),
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
