import {tf} from '../../core/tf';
import {pieces} from '../../cbp/constraint-arrays';

export {cfsOf, constraintOnArrays, constraintTotal, constraintValues} from '../../cbp/constraint-arrays';

/**
 * The CBP constraint function c(w), elementwise: a slope-2 penalty outside [levels[0]·s, levels[-1]·s]; between
 * neighbouring levels a triangle, 0 at the levels and (q_hi − q_lo) at the midpoint, set to 0 wherever it
 * exceeds (q_hi − q_lo)·ucs (the unconstrained window, which shrinks as ucs grows towards 1).
 * Thresholds are rounded to float32 so both the value and the slope see the same boundaries as the reference.
 */
export function constraintValue(w: tf.Tensor, scale: number, levels: readonly number[], ucs: number): tf.Tensor {
  return tf.tidy(() => {
    const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
    let out = tf.add(tf.relu(tf.mul(tf.sub(w, lo), -2)), tf.relu(tf.mul(tf.sub(w, hi), 2)));
    for (const q of ps) {
      const rising = tf.div(tf.sub(w, q.qlow), q.toMeanLow);
      const falling = tf.div(tf.sub(w, q.qhigh), q.toMeanHigh);
      const line = tf.relu(tf.mul(tf.minimum(rising, falling), q.height));
      out = tf.add(out, tf.where(tf.greater(line, q.windowTop), tf.zerosLike(line), line));
    }
    return out;
  });
}

/** dc/dw, piece by piece as the reference's backward pass defines it (zero inside the unconstrained window). */
export function constraintSlope(w: tf.Tensor, scale: number, levels: readonly number[], ucs: number): tf.Tensor {
  return tf.tidy(() => {
    const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
    const pick = (mask: tf.Tensor, value: number, current: tf.Tensor): tf.Tensor =>
      tf.where(mask, tf.fill(current.shape, value), current);
    // Positions no piece claims keep the incoming gradient unchanged in the reference: slope 1.
    let slope: tf.Tensor = tf.onesLike(w);
    slope = pick(tf.less(w, lo), -2, slope);
    slope = pick(tf.greaterEqual(w, hi), 2, slope);
    for (const q of ps) {
      slope = pick(tf.logicalAnd(tf.greaterEqual(w, q.qlow), tf.less(w, q.rlow)), q.slopeLow, slope);
      slope = pick(tf.logicalAnd(tf.less(w, q.qhigh), tf.greaterEqual(w, q.rhigh)), q.slopeHigh, slope);
      slope = pick(tf.logicalAnd(tf.greaterEqual(w, q.rlow), tf.less(w, q.rhigh)), 0, slope);
    }
    return slope;
  });
}
