import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {tf} from '../../../src/train/tfjs/tf';
import {makeConv2d} from '../../../src/train/tfjs/conv';
import {dense} from '../../../src/train/tfjs/dense';
import {batchNormTrain} from '../../../src/train/tfjs/batchnorm';
import {makeMaxPool} from '../../../src/train/tfjs/maxpool';
import {Rng} from '../../../src/core/rng';

function randomTensor(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({length: n}, () => rng.normal()), shape);
}

// [batch, size, in, out, kernel, stride, padding]
const CASES: [number, number, number, number, number, number, number][] = [
  [2, 9, 3, 4, 3, 1, 1],
  [2, 10, 3, 5, 3, 2, 1],
  [3, 11, 2, 3, 5, 2, 2],
  [1, 7, 2, 2, 7, 2, 3],
  [2, 13, 4, 6, 1, 2, 0],
  [2, 12, 3, 4, 3, 3, 0],
  [2, 14, 3, 8, 5, 1, 0],
  // One input channel (LeNet-5's first layer) runs as a depthwise convolution.
  [2, 12, 1, 4, 5, 1, 0],
  [2, 11, 1, 3, 3, 2, 1],
];

for (const backend of ['cpu', 'wasm']) {
  test(`conv2d gradients built from forward convolutions match tfjs's own kernels on cpu (run on ${backend})`, async () => {
    const rng = new Rng(7);
    for (const [n, size, cin, cout, k, s, p] of CASES) {
      await tf.setBackend('cpu');
      const xv = randomTensor(rng, [n, size, size, cin]);
      const wv = randomTensor(rng, [k, k, cin, cout]);
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [p, p], [p, p], [0, 0]];
      const expected = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad))))([xv, wv]);
      const [ex, ew] = [expected[0].dataSync(), expected[1].dataSync()];
      const ey = tf.conv2d(xv as tf.Tensor4D, wv as tf.Tensor4D, s, pad).dataSync();
      const [xd, wd] = [xv.dataSync(), wv.dataSync()];
      await tf.setBackend(backend);
      const conv = makeConv2d([s, s], [p, p]);
      const gy = conv(tf.tensor4d(xd, [n, size, size, cin]), tf.tensor4d(wd, [k, k, cin, cout])).dataSync();
      assert.equal(gy.length, ey.length);
      for (let i = 0; i < ey.length; i++) assert.ok(Math.abs(gy[i] - ey[i]) <= 1e-5 * Math.max(1, Math.abs(ey[i])), `y case ${[n, size, cin, cout, k, s, p]}`);
      const got = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(conv(x as tf.Tensor4D, w as tf.Tensor4D))))([
        tf.tensor(xd, xv.shape),
        tf.tensor(wd, wv.shape),
      ]);
      const scale = Math.max(...Array.from(ew, Math.abs), ...Array.from(ex, Math.abs));
      const gx = got[0].dataSync();
      const gw = got[1].dataSync();
      for (let i = 0; i < ex.length; i++) assert.ok(Math.abs(gx[i] - ex[i]) <= 1e-5 * scale, `dx case ${[n, size, cin, cout, k, s, p]}`);
      for (let i = 0; i < ew.length; i++) assert.ok(Math.abs(gw[i] - ew[i]) <= 1e-5 * scale, `dw case ${[n, size, cin, cout, k, s, p]}`);
    }
  });
}

test('dense and batch-norm hand-written gradients match tfjs autodiff of the plain formulas', async () => {
  await tf.setBackend('cpu');
  const rng = new Rng(3);
  const x = randomTensor(rng, [6, 5]) as tf.Tensor2D;
  const w = randomTensor(rng, [5, 4]) as tf.Tensor2D;
  const dy = randomTensor(rng, [6, 4]);
  const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(dense(a as tf.Tensor2D, b as tf.Tensor2D), dy)))([x, w]);
  const plain = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), dy)))([x, w]);
  for (let i = 0; i < 2; i++) assert.ok(tf.max(tf.abs(tf.sub(ours[i], plain[i]))).dataSync()[0] < 1e-5);

  const xb = randomTensor(rng, [4, 3, 3, 5]);
  const gamma = randomTensor(rng, [5]) as tf.Tensor1D;
  const beta = randomTensor(rng, [5]) as tf.Tensor1D;
  const dyb = randomTensor(rng, [4, 3, 3, 5]);
  const eps = 1e-5;
  const mine = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const r = batchNormTrain(a, g as tf.Tensor1D, b as tf.Tensor1D, eps);
    r.mean.dispose();
    r.variance.dispose();
    return tf.sum(tf.mul(r.y, dyb));
  })([xb, gamma, beta]);
  const auto = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const m = tf.moments(a, [0, 1, 2]);
    const y = tf.add(tf.mul(tf.div(tf.sub(a, m.mean), tf.sqrt(tf.add(m.variance, eps))), g), b);
    return tf.sum(tf.mul(y, dyb));
  })([xb, gamma, beta]);
  for (let i = 0; i < 3; i++) {
    const d = tf.max(tf.abs(tf.sub(mine[i], auto[i]))).dataSync()[0];
    assert.ok(d < 1e-4, `gradient ${i} differs by ${d}`);
  }
});

test('max pooling with the mask gradient matches the cpu backend\'s MaxPoolGrad (no ties), on cpu and wasm', async () => {
  // The reference is the cpu backend: tfjs-backend-wasm 4.22's own MaxPoolGrad misplaces gradients in windows of
  // negative values (measured: a 2×2 window of all-negative inputs sent its gradient to the wrong element).
  await tf.setBackend('cpu');
  const rng = new Rng(11);
  const x = randomTensor(rng, [3, 8, 6, 4]) as tf.Tensor4D;
  const dy = randomTensor(rng, [3, 4, 3, 4]);
  const expected = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), dy)))(x).dataSync();
  const [xd, dyd] = [x.dataSync(), dy.dataSync()];
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    const pool = makeMaxPool([2, 2], [2, 2], [0, 0]);
    assert.ok(pool !== undefined);
    const d = tf.tensor(dyd, dy.shape);
    const got = tf.grad((a: tf.Tensor) => tf.sum(tf.mul((pool)(a as tf.Tensor4D), d)))(tf.tensor(xd, x.shape)).dataSync();
    for (let i = 0; i < got.length; i++) assert.ok(got[i] === expected[i], `${backend}: element ${i}: ${got[i]} vs ${expected[i]}`);
  }
  assert.equal(makeMaxPool([3, 3], [2, 2], [1, 1]), undefined);
});
