import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {selectBackend} from '../../../src/train/tfjs/backend';
import {CbpError} from '../../../src/core/errors';
import {AllReduce} from '../../../src/train/tfjs/allreduce';
import {initialWeights} from '../../../src/train/init';
import {Network} from '../../../src/train/tfjs/network';
import {ShardPool} from '../../../src/train/tfjs/shards';
import {createTfjsEngine} from '../../../src/train/tfjs/engine';
import {LAMBDA_PREFIX} from '../../../src/run/checkpoint';
import {constrainedNodes, paramInfos} from '../../../models/spec';
import {shapeOnlySource} from '../../engine-helpers';
import {Rng} from '../../../src/core/rng';
import {getModel} from '../../../models/index';
import {sizeOf, type Weights} from '../../../src/core/weights';

const SHAPE = [1, 28, 28] as const;

/** Two CBP steps of binary LeNet-5 (λ 1e-3) on one batch, on `workers` threads; returns the weights afterwards. */
async function twoSteps(workers: number, n: number): Promise<{weights: Weights; losses: number[]}> {
  const spec = getModel('lenet5', 10, SHAPE);
  const lambdas = new Map(constrainedNodes(spec, 'bin').map((node) => {
    const shape = paramInfos(spec, 'bin').find((p) => p.key === `${node.name}.weight`)?.shape ?? [];
    return [LAMBDA_PREFIX + node.name, {shape, data: new Float32Array(sizeOf(shape)).fill(1e-3)}] as const;
  }));
  const engine = await createTfjsEngine({spec, quant: 'bin', weights: initialWeights(spec, 'bin', 5), stored: lambdas, weightDecay: 1e-4, lrLambda: 1e-4, constraintTerm: true, source: shapeOnlySource(SHAPE, 10), backend: 'wasm', workers});
  const rng = new Rng(11);
  const x = Float32Array.from({length: n * 784}, () => rng.normal());
  const y = Int32Array.from({length: n}, () => Math.floor(rng.next() * 10));
  const losses: number[] = [];
  try {
    for (let i = 0; i < 2; i++) losses.push((await engine.step({x, y, count: n}, 0.5, 1e-3)).lagrangian);
    // Copies: the state's arrays are views the engine's close may release.
    return {weights: new Map([...engine.state()].map(([k, t]) => [k, {shape: t.shape, data: Float32Array.from(t.data)}])), losses};
  } finally {
    await engine.close();
  }
}

for (const n of [24, 25]) {
  test(`a step split over 2 and 3 threads (synchronised batch norm) equals the step on one thread, batch ${n}`, async () => {
    await selectBackend('wasm');
    const one = await twoSteps(1, n);
    for (const workers of [2, 3]) {
      const many = await twoSteps(workers, n);
      for (let i = 0; i < 2; i++) assert.ok(Math.abs(many.losses[i] - one.losses[i]) < 1e-5 * Math.abs(one.losses[i]), `Lagrangian of step ${i + 1}: ${many.losses[i]} vs ${one.losses[i]}`);
      for (const [key, t] of one.weights) {
        const u = many.weights.get(key)?.data as Float32Array;
        let worst = 0;
        let scale = 1e-3;
        for (let i = 0; i < t.data.length; i++) {
          worst = Math.max(worst, Math.abs(u[i] - t.data[i]));
          scale = Math.max(scale, Math.abs(t.data[i]));
        }
        assert.ok(worst <= 1e-5 * scale, `${key} after 2 steps on ${workers} threads differs by ${worst} (largest value ${scale})`);
      }
    }
  });
}

test('a batch smaller than the thread count runs on the calling thread alone', async () => {
  await selectBackend('wasm');
  const one = await twoSteps(1, 2);
  const three = await twoSteps(3, 2);
  assert.deepEqual(three.losses, one.losses);
});

test('a reduction gives up with a clear error when a peer failed or never answers, instead of hanging', () => {
  const buffer = new SharedArrayBuffer(AllReduce.bytes(2, 4));
  const lonely = new AllReduce(buffer, 0, 2, 4, 200);
  const t = Date.now();
  assert.throws(() => lonely.sum(Float32Array.of(1, 2)), (e: unknown) => e instanceof CbpError && /worker 1 did not answer within 0.2 s/.test(e.message));
  assert.ok(Date.now() - t < 5000);
  const other = new AllReduce(buffer, 1, 2, 4);
  other.abort();
  assert.throws(() => new AllReduce(buffer, 0, 2, 4).sum(Float32Array.of(1)), (e: unknown) => e instanceof CbpError && e.code === 'WORKER_FAILED');
});

test('a worker that cannot start reports its own error, naming the worker', async () => {
  await selectBackend('wasm');
  const spec = getModel('lenet5', 10, SHAPE);
  const net = new Network(spec, 'bin', initialWeights(spec, 'bin', 5));
  await assert.rejects(ShardPool.create(2, net, 'no-such-backend', 10), (e: unknown) => e instanceof CbpError && /data-parallel worker 1: --backend no-such-backend: unknown backend/.test(e.message));
  net.dispose();
});
