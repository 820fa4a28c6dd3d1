import {segments} from './levels';

/** One interval between neighbouring levels, its thresholds rounded to float32 as the reference sees them. */
export interface Piece {
  readonly qlow: number;
  readonly qhigh: number;
  readonly height: number;
  readonly toMeanLow: number;
  readonly toMeanHigh: number;
  /** c(w) above this is inside the unconstrained window (set to 0). */
  readonly windowTop: number;
  /** The window in w: [rlow, rhigh). */
  readonly rlow: number;
  readonly rhigh: number;
  readonly slopeLow: number;
  readonly slopeHigh: number;
}

/** The outer bounds and the pieces of c(w) for a layer's scale, levels and ucs — shared by every form below. */
export function pieces(scale: number, levels: readonly number[], ucs: number): {lo: number; hi: number; pieces: Piece[]} {
  const f = Math.fround;
  const {mids} = segments(levels);
  // PyTorch multiplies the float32 thresholds by the Python float ucs in float32: ucs is rounded first.
  const u = f(ucs);
  return {
    lo: f(levels[0] * scale),
    hi: f(levels[levels.length - 1] * scale),
    pieces: mids.map((m, p) => {
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
        windowTop: f(height * u),
        rlow: f(qlow + f(f(mean - qlow) * u)),
        rhigh: f(qhigh + f(f(mean - qhigh) * u)),
        slopeLow: f(height / f(mean - qlow)),
        slopeHigh: f(height / f(mean - qhigh)),
      };
    }),
  };
}

/** c(w) and dc/dw at one position, written into `out` (reused, so the loops below allocate nothing per weight). */
function pointwise(x: number, lo: number, hi: number, ps: readonly Piece[], out: {c: number; slope: number}): void {
  const f = Math.fround;
  // Slope 1 where no piece claims the position (NaN), as the reference leaves the incoming gradient there.
  out.c = Number.isNaN(x) ? NaN : 0;
  out.slope = 1;
  if (x < lo) {
    out.c = f(-2 * f(x - lo));
    out.slope = -2;
  } else if (x >= hi) {
    out.c = f(2 * f(x - hi));
    out.slope = 2;
  } else {
    for (const q of ps) {
      if (!(x >= q.qlow && x < q.qhigh)) continue;
      const rising = f(f(x - q.qlow) / q.toMeanLow);
      const falling = f(f(x - q.qhigh) / q.toMeanHigh);
      const line = Math.max(0, f(Math.min(rising, falling) * q.height));
      out.c = line > q.windowTop ? 0 : line;
      out.slope = x < q.rlow ? q.slopeLow : x >= q.rhigh ? q.slopeHigh : 0;
      return;
    }
  }
}

/**
 * Σ λ⊙c(w) and its gradient λ⊙dc/dw computed directly on the arrays, in one pass: the same float32 thresholds and
 * slopes as constraintValue/constraintSlope (which the tests hold to the reference), without the dozens of
 * full-size tensor operations those take — on wasm they cost more than a small network's whole batch work.
 */
export function constraintOnArrays(w: Float32Array, lambda: Float32Array, scale: number, levels: readonly number[], ucs: number): {value: number; grad: Float32Array} {
  const f = Math.fround;
  const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
  const grad = new Float32Array(w.length);
  const at = {c: 0, slope: 1};
  let value = 0;
  for (let i = 0; i < w.length; i++) {
    pointwise(w[i], lo, hi, ps, at);
    value += f(at.c * lambda[i]);
    grad[i] = f(at.slope * lambda[i]);
  }
  return {value, grad};
}

/** Σ c(w) over a layer (λ = 1), without the gradient: the constraint-satisfaction measure's sum. */
export function constraintTotal(w: Float32Array, scale: number, levels: readonly number[], ucs: number): number {
  const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
  const at = {c: 0, slope: 1};
  let value = 0;
  for (let i = 0; i < w.length; i++) {
    pointwise(w[i], lo, hi, ps, at);
    value += at.c;
  }
  return value;
}

/** The values c(w) elementwise (the gradient of Σ λ⊙c(w) with respect to λ, which the λ ascent follows). */
export function constraintValues(w: Float32Array, scale: number, levels: readonly number[], ucs: number): Float32Array {
  const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
  const at = {c: 0, slope: 1};
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    pointwise(w[i], lo, hi, ps, at);
    out[i] = at.c;
  }
  return out;
}

/**
 * The constraint-satisfaction measure (CFS) of the reference: the mean of c(w) with ucs = 1 (no unconstrained
 * window) over every constrained weight; 0 when there are none.
 */
export function cfsOf(layers: readonly {readonly weights: Float32Array; readonly scale: number; readonly levels: readonly number[]}[]): number {
  let total = 0;
  let count = 0;
  for (const l of layers) {
    total += constraintTotal(l.weights, l.scale, l.levels, 1);
    count += l.weights.length;
  }
  return count === 0 ? 0 : total / count;
}
