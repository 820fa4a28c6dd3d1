import {tf} from './tf';
import {float32Values, rank1} from './tensors';
import {gradInputs} from './custom-grad';

/** `mean` and `variance` outlive any tidy scope: the caller must dispose them. */
export interface BatchNormResult {
  readonly y: tf.Tensor;
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
  /** Values per channel the statistics were taken over (the whole batch's when reduced over shards). */
  readonly count: number;
}

/** Sums per-channel vectors over the shards of a data-parallel batch (see AllReduce); absent for one shard. */
export interface ShardReducer {
  sum(local: Float32Array): Float32Array;
}

/**
 * Training-mode batch normalisation over every axis but the last (channels), with its gradient written out by
 * hand: dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)). tfjs's automatic gradient of the same formula takes several
 * times as many full-size operations, which dominate a small network's step on wasm.
 *
 * With a reducer the batch is one shard of a larger one: mean, variance and the two sums in the gradient are taken
 * over all shards (synchronised batch norm), so the result equals one pass over the whole batch; the returned
 * γ and β gradients stay this shard's part, to be summed with the other shards' like every other gradient.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, reducer?: ShardReducer): BatchNormResult {
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  const channels = x.shape[x.rank - 1];
  let count = x.size / channels;
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  /** Per-channel sums of `t` over the whole batch (all shards). */
  const total = (r: ShardReducer, t: tf.Tensor): tf.Tensor1D => {
    const local = tf.sum(t, axes);
    const all = r.sum(float32Values(local));
    local.dispose();
    return tf.tensor1d(all);
  };
  const f = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const {tensors: [xi, g, b], save} = gradInputs(inputs, 3);
    if (reducer === undefined) {
      const m = tf.moments(xi, axes);
      // Kept past the kernel's scope for the running statistics; the caller disposes them.
      mean = tf.keep(rank1(m.mean));
      variance = tf.keep(rank1(m.variance));
    } else {
      count = reducer.sum(Float32Array.of(count))[0];
      const mu = tf.keep<tf.Tensor1D>(tf.div(total(reducer, xi), count));
      mean = mu;
      variance = tf.keep<tf.Tensor1D>(tf.div(total(reducer, tf.square(tf.sub(xi, mu))), count));
    }
    const [mu, va] = [mean, variance];
    const invstd = tf.rsqrt(tf.add(va, eps));
    const xhat = tf.mul(tf.sub(xi, mu), invstd);
    save([xhat, invstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dyIn: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.tidy(() => {
        const dy = Array.isArray(dyIn) ? dyIn[0] : dyIn;
        const [xh, inv, gm] = saved;
        const dyx = tf.mul(dy, xh);
        const dbeta = tf.sum(dy, axes);
        const dgamma = tf.sum(dyx, axes);
        let [sumDy, sumDyx] = [dbeta, dgamma];
        if (reducer !== undefined) {
          const all = reducer.sum(float32Values(tf.concat([dbeta, dgamma])));
          [sumDy, sumDyx] = [tf.tensor1d(all.subarray(0, channels)), tf.tensor1d(all.subarray(channels))];
        }
        const centred = tf.sub(tf.sub(dy, tf.div(sumDy, count)), tf.mul(xh, tf.div(sumDyx, count)));
        const dx = tf.mul(centred, tf.mul(gm, inv));
        return [dx, dgamma, dbeta];
      }),
    };
  });
  const y = f(x, gamma, beta);
  // f ran the forward pass just above, which sets both.
  if (mean === undefined || variance === undefined) throw new Error('internal: batch norm ran without computing its statistics');
  return {y, mean, variance, count};
}
