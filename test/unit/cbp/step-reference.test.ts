import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {selectBackend} from '../../../src/train/tfjs/backend';
import {LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../../../src/run/checkpoint';
import {createTfjsEngine} from '../../../src/train/tfjs/engine';
import {shapeOnlySource} from '../../engine-helpers';
import {assertClose, weightsOf, stepReference, tinyStepSpec} from './torch-fixture';

const ref = stepReference();

function scalarClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${what}: ${actual}, PyTorch ${expected}`);
}

for (const backend of ['cpu', 'wasm']) {
  test(`two CBP steps (λ term, ±1 gradient clipping, weight decay, momentum 0.9, clamp to [−1, 1], batch-norm statistics) match the reference's training loop in PyTorch, on ${backend}`, async () => {
    await selectBackend(backend);
    assert.equal(ref.quant, 'ter');
    const spec = tinyStepSpec(ref);
    // λ and the momentum buffers enter as a resumed checkpoint holds them, in PyTorch's layout.
    const stored = new Map([...weightsOf(ref.lambda, LAMBDA_PREFIX), ...weightsOf(ref.momentum, MOMENTUM_PREFIX)]);
    const engine = await createTfjsEngine({
      spec,
      quant: 'ter',
      weights: weightsOf(ref.weights),
      stored,
      weightDecay: ref.weight_decay,
      lrLambda: 0,
      constraintTerm: true,
      source: shapeOnlySource(ref.input_shape, ref.classes),
      backend,
      workers: 1,
    });
    try {
      for (const [i, step] of ref.steps.entries()) {
        const n = step.labels.length;
        const r = await engine.step({x: Float32Array.from(step.x_nhwc.data), y: Int32Array.from(step.labels), count: n}, ref.ucs, ref.lr);
        assert.ok(r.finite);
        scalarClose(r.loss, step.loss, `step ${i + 1} cross-entropy`);
        scalarClose(r.lagrangian, step.lagrangian, `step ${i + 1} Lagrangian`);
        const state = engine.state();
        for (const [key, t] of Object.entries(step.weights)) {
          assertClose((state.get(key) ?? assert.fail(`no ${key}`)).data, t.data, `step ${i + 1} ${key}`);
        }
        for (const [key, t] of Object.entries(step.momentum)) {
          assertClose((state.get(MOMENTUM_PREFIX + key) ?? assert.fail(`no momentum for ${key}`)).data, t.data, `step ${i + 1} momentum of ${key}`);
        }
      }
    } finally {
      await engine.close();
    }
  });
}
