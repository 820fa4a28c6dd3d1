import {tf} from '../tf';
import {segments} from './levels';

/**
 * The CBP constraint function c(w), elementwise: a slope-2 penalty outside [levels[0]·s, levels[-1]·s]; between
 * neighbouring levels a triangle, 0 at the levels and (q_hi − q_lo) at the midpoint, set to 0 wherever it
 * exceeds (q_hi − q_lo)·ucs (the unconstrained window, which shrinks as ucs grows towards 1).
 * Thresholds are rounded to float32 so both the value and the slope see the same boundaries as the reference.
 */
export function constraintValue(w: tf.Tensor, scale: number, levels: readonly number[], ucs: number): tf.Tensor {
  return tf.tidy(() => {
    const f = Math.fround;
    const {mids} = segments(levels);
    const lo = f(levels[0] * scale);
    const hi = f(levels[levels.length - 1] * scale);
    let out = tf.add(tf.relu(tf.mul(tf.sub(w, lo), -2)), tf.relu(tf.mul(tf.sub(w, hi), 2)));
    for (let p = 0; p < mids.length; p++) {
      const qlow = f(levels[p] * scale);
      const qhigh = f(levels[p + 1] * scale);
      const mean = f(mids[p] * scale);
      const height = f(qhigh - qlow);
      const rising = tf.div(tf.sub(w, qlow), f(mean - qlow));
      const falling = tf.div(tf.sub(w, qhigh), f(mean - qhigh));
      const line = tf.relu(tf.mul(tf.minimum(rising, falling), height));
      const windowed = tf.where(tf.greater(line, f(height * ucs)), tf.zerosLike(line), line);
      out = tf.add(out, windowed);
    }
    return out;
  });
}

/** dc/dw, piece by piece as the reference's backward pass defines it (zero inside the unconstrained window). */
export function constraintSlope(w: tf.Tensor, scale: number, levels: readonly number[], ucs: number): tf.Tensor {
  return tf.tidy(() => {
    const f = Math.fround;
    const {mids} = segments(levels);
    const lo = f(levels[0] * scale);
    const hi = f(levels[levels.length - 1] * scale);
    const pick = (mask: tf.Tensor, value: number, current: tf.Tensor): tf.Tensor =>
      tf.where(mask, tf.fill(current.shape, value), current);
    // Positions no piece claims keep the incoming gradient unchanged in the reference: slope 1.
    let slope: tf.Tensor = tf.onesLike(w);
    slope = pick(tf.less(w, lo), -2, slope);
    slope = pick(tf.greaterEqual(w, hi), 2, slope);
    for (let p = 0; p < mids.length; p++) {
      const qlow = f(levels[p] * scale);
      const qhigh = f(levels[p + 1] * scale);
      const mean = f(mids[p] * scale);
      const height = f(qhigh - qlow);
      const rlow = f(qlow + f(f(mean - qlow) * ucs));
      const rhigh = f(qhigh + f(f(mean - qhigh) * ucs));
      slope = pick(tf.logicalAnd(tf.greaterEqual(w, qlow), tf.less(w, rlow)), height / f(mean - qlow), slope);
      slope = pick(tf.logicalAnd(tf.less(w, qhigh), tf.greaterEqual(w, rhigh)), height / f(mean - qhigh), slope);
      slope = pick(tf.logicalAnd(tf.greaterEqual(w, rlow), tf.less(w, rhigh)), 0, slope);
    }
    return slope;
  });
}

/**
 * Σ λ⊙c(w) and its gradient λ⊙dc/dw computed directly on the arrays, in one pass: the same float32 thresholds and
 * slopes as constraintValue/constraintSlope (which the tests hold to the reference), without the dozens of
 * full-size tensor operations those take — on wasm they cost more than a small network's whole batch work.
 */
export function constraintOnArrays(w: Float32Array, lambda: Float32Array, scale: number, levels: readonly number[], ucs: number): {value: number; grad: Float32Array} {
  const f = Math.fround;
  const {mids} = segments(levels);
  const lo = f(levels[0] * scale);
  const hi = f(levels[levels.length - 1] * scale);
  const pieces = mids.map((m, p) => {
    const qlow = f(levels[p] * scale);
    const qhigh = f(levels[p + 1] * scale);
    const mean = f(m * scale);
    const height = f(qhigh - qlow);
    return {
      qlow,
      qhigh,
      height,
      toMeanLow: f(mean - qlow),
      toMeanHigh: f(mean - qhigh),
      windowTop: f(height * ucs),
      rlow: f(qlow + f(f(mean - qlow) * ucs)),
      rhigh: f(qhigh + f(f(mean - qhigh) * ucs)),
      slopeLow: f(height / f(mean - qlow)),
      slopeHigh: f(height / f(mean - qhigh)),
    };
  });
  const grad = new Float32Array(w.length);
  let value = 0;
  for (let i = 0; i < w.length; i++) {
    const x = w[i];
    let c = Number.isNaN(x) ? NaN : 0;
    // Slope 1 where no piece claims the position (NaN), as the reference leaves the incoming gradient there.
    let slope = 1;
    if (x < lo) {
      c = f(-2 * f(x - lo));
      slope = -2;
    } else if (x >= hi) {
      c = f(2 * f(x - hi));
      slope = 2;
    } else {
      for (const q of pieces) {
        if (!(x >= q.qlow && x < q.qhigh)) continue;
        const rising = f(f(x - q.qlow) / q.toMeanLow);
        const falling = f(f(x - q.qhigh) / q.toMeanHigh);
        const line = Math.max(0, f(Math.min(rising, falling) * q.height));
        c = line > q.windowTop ? 0 : line;
        slope = x < q.rlow ? q.slopeLow : x >= q.rhigh ? q.slopeHigh : 0;
        break;
      }
    }
    value += f(c * lambda[i]);
    grad[i] = f(slope * lambda[i]);
  }
  return {value, grad};
}
