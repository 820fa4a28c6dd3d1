import {tf} from './tf';
import {withGradient2} from './custom-grad';
import {rank2} from './tensors';

/**
 * x·W for x [N, in] and W [in, out], with gradients written as plain (untransposed) products: on wasm a matMul
 * with a transposed operand is an order of magnitude slower than transposing first.
 */
export const dense = withGradient2(
  rank2,
  (x, w) => tf.matMul(x, w),
  (x, w, dy) => [tf.matMul(dy, tf.transpose(w)), tf.matMul(tf.transpose(x), dy)],
);
