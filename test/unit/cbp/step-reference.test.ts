import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {tf} from '../../../src/core/tf';
import {selectBackend} from '../../../src/train/tfjs/backend';
import {LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../../../src/run/checkpoint';
import {fromTfjs} from '../../../src/train/tfjs/layout';
import {Network} from '../../../src/train/tfjs/network';
import {cbpStep, createTrainState, disposeTrainState} from '../../../src/train/tfjs/step';
import {assertClose, weightsOf, stepReference, tinyStepSpec} from './torch-fixture';

const ref = stepReference();

function scalarClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${what}: ${actual}, PyTorch ${expected}`);
}

for (const backend of ['cpu', 'wasm']) {
  test(`two CBP steps (λ term, ±1 gradient clipping, weight decay, momentum 0.9, clamp to [−1, 1], batch-norm statistics) match the reference's training loop in PyTorch, on ${backend}`, async () => {
    await selectBackend(backend);
    assert.equal(ref.quant, 'ter');
    const net = new Network(tinyStepSpec(ref), 'ter', weightsOf(ref.weights));
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
