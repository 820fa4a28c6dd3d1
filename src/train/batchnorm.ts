import {tf} from '../tf';

/** `mean` and `variance` outlive any tidy scope: the caller must dispose them. */
export interface BatchNormResult {
  readonly y: tf.Tensor;
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
}

/**
 * Training-mode batch normalisation over every axis but the last (channels), with its gradient written out by
 * hand: dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)). tfjs's automatic gradient of the same formula takes several
 * times as many full-size operations, which dominate a small network's step on wasm.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): BatchNormResult {
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const f = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, g, b, save] = inputs as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const m = tf.moments(xi, axes);
    // Kept past the kernel's scope for the running statistics; the caller disposes them.
    mean = tf.keep(m.mean as tf.Tensor1D);
    variance = tf.keep(m.variance as tf.Tensor1D);
    const invstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(tf.sub(xi, mean), invstd);
    save([xhat, invstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dyIn: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.tidy(() => {
        const dy = Array.isArray(dyIn) ? dyIn[0] : dyIn;
        const [xh, inv, gm] = saved;
        const dyx = tf.mul(dy, xh);
        const dbeta = tf.sum(dy, axes);
        const dgamma = tf.sum(dyx, axes);
        const n = dy.size / dy.shape[dy.rank - 1];
        const centred = tf.sub(tf.sub(dy, tf.div(dbeta, n)), tf.mul(xh, tf.div(dgamma, n)));
        const dx = tf.mul(centred, tf.mul(gm, inv));
        return [dx, dgamma, dbeta];
      }),
    };
  });
  const y = f(x, gamma, beta);
  return {y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D};
}
