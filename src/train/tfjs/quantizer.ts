import {tf} from '../../core/tf';
import {withGradient1} from './custom-grad';
import {segments} from '../../cbp/levels';

/**
 * The reference quantizer: Σ_i gap_i·(sign(w − mid_i·s)+1)/2 − 1, times s. A weight exactly on a midpoint
 * (sign 0) lands halfway between two levels, exactly as in the reference implementation.
 */
export function quantizeValue(w: tf.Tensor, scale: number, levels: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    const {gaps, mids} = segments(levels);
    let acc: tf.Tensor = tf.zerosLike(w);
    for (let i = 0; i < gaps.length; i++) {
      const step = tf.add(exactSign(tf.sub(w, mids[i] * scale)), 1);
      acc = tf.add(acc, tf.mul(step, gaps[i] / 2));
    }
    return tf.mul(tf.sub(acc, 1), scale);
  });
}

/**
 * sign(x) with sign(0) = 0, built from step: tfjs-backend-wasm 4.22's Sign kernel returns 0 for |x| below about
 * 1e-7 (measured: sign(1e-7) = 0), which would quantize weights near a midpoint to no level at all.
 */
export function exactSign(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.step(x), tf.step(tf.neg(x))));
}

/** The quantizer with a straight-through gradient: the forward pass sees levels, the latent weight gets dy. */
export function makeQuantizer(scale: number, levels: readonly number[]): (w: tf.Tensor) => tf.Tensor {
  return withGradient1((w) => quantizeValue(w, scale, levels), (_w, dy) => dy);
}
