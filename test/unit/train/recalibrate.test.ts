import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {tf} from '../../../src/train/tfjs/tf';
import {selectBackend} from '../../../src/train/tfjs/backend';
import {initialWeights} from '../../../src/train/init';
import {Network} from '../../../src/train/tfjs/network';
import {recalibrateBatchNorm} from '../../../src/train/tfjs/recalibrate';
import {trainData} from '../../../src/train/tfjs/sources';
import {getModel} from '../../../models/index';

test('batch-norm re-estimation: afterwards inference normalises as the batch itself did, and the weights stay as they were', async () => {
  await selectBackend('wasm');
  const ds = trainData('mnist', 300, () => undefined);
  const spec = getModel('lenet5', 10, ds.shape);
  const net = new Network(spec, 'bin', initialWeights(spec, 'bin', 3));
  let batch: {x: Float32Array; count: number} | undefined;
  for await (const b of ds.trainBatches(0, 300, 1)) batch = b;
  const {x, count} = batch as {x: Float32Array; count: number};
  assert.equal(count, 300);
  const logits = (training: boolean): Float32Array =>
    tf.tidy(() => net.forward(tf.tensor4d(x, [count, 28, 28, 1]), training).dataSync() as Float32Array);
  const gap = (): number => {
    const a = logits(true);
    const b = logits(false);
    let worst = 0;
    let top = 0;
    for (let i = 0; i < a.length; i++) (worst = Math.max(worst, Math.abs(a[i] - b[i]))), (top = Math.max(top, Math.abs(a[i])));
    return worst / top;
  };
  const weightBefore = net.vars.get('conv2.weight')?.dataSync().slice();
  // Fresh running statistics (mean 0, variance 1) do not match what this network's layers output.
  assert.ok(gap() > 0.05, `before: ${gap()}`);
  assert.equal(await recalibrateBatchNorm(net, ds, 300, 300, 1), 300);
  // Only the unbiased variance (n / (n − 1), n = 300 for the dense layer's batch norm) separates the two now.
  assert.ok(gap() < 5e-3, `after: ${gap()}`);
  assert.deepEqual(net.vars.get('conv2.weight')?.dataSync(), weightBefore);
  // The image budget holds across batches: 64 + 64 + 64 + 8.
  assert.equal(await recalibrateBatchNorm(net, ds, 200, 64, 1), 200);
  net.dispose();
});
