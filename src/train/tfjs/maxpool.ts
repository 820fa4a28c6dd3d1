import {tf} from './tf';
import {withGradient1} from './custom-grad';
import {rank4} from './tensors';
import type {Pair} from '../../../models/spec';

/**
 * Max pooling over non-overlapping windows (kernel = stride, no padding) with its gradient written as a mask: the
 * upstream gradient, repeated over each window, flows where the input equals the window's maximum. tfjs-wasm's own
 * MaxPoolGrad kernel is more than twice as slow for LeNet-sized tensors. At an exact tie inside one window the
 * gradient reaches every tied position (tfjs picks one); after a ReLU such ties are zeros whose gradient the ReLU
 * stops anyway.
 */
export function makeMaxPool(kernel: Pair, stride: Pair, padding: Pair): ((x: tf.Tensor4D) => tf.Tensor4D) | undefined {
  const [kh, kw] = kernel;
  if (kh !== stride[0] || kw !== stride[1] || padding[0] !== 0 || padding[1] !== 0) return undefined;
  const pool = (x: tf.Tensor): tf.Tensor4D => tf.maxPool(rank4(x), [kh, kw], [kh, kw], 'valid');
  const f = withGradient1(pool, (x, dy) => {
    const [, h, w] = rank4(x).shape;
    const [, oh, ow] = rank4(dy).shape;
    if (oh * kh !== h || ow * kw !== w) {
      // Windows that do not tile the input exactly: fall back to tfjs's kernel.
      return tf.grad((a: tf.Tensor) => tf.mul(pool(a), dy))(x);
    }
    const up = (t: tf.Tensor): tf.Tensor => tf.image.resizeNearestNeighbor(rank4(t), [h, w]);
    return tf.mul(tf.cast(tf.equal(x, up(pool(x))), 'float32'), up(dy));
  });
  return (x) => rank4(f(x));
}
