import {segments} from './levels';

/** One interval between neighbouring levels, its thresholds rounded to float32 as the reference sees them. */
export interface Piece {
  readonly qlow: number;
  readonly qhigh: number;
  readonly height: number;
  readonly toMeanLow: number;
  readonly toMeanHigh: number;
  /** The float32 midpoint between the two levels. */
  readonly mean: number;
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
        mean,
        windowTop: f(height * u),
        rlow: f(qlow + f(f(mean - qlow) * u)),
        rhigh: f(qhigh + f(f(mean - qhigh) * u)),
        slopeLow: f(height / f(mean - qlow)),
        slopeHigh: f(height / f(mean - qhigh)),
      };
    }),
  };
}

/** The pieces as flat arrays (the loops below read numbers, not objects), with the outer bounds. */
export interface ConstraintTable {
  readonly lo: number;
  readonly hi: number;
  readonly qlow: Float64Array;
  readonly qhigh: Float64Array;
  readonly height: Float64Array;
  readonly toMeanLow: Float64Array;
  readonly toMeanHigh: Float64Array;
  readonly windowTop: Float64Array;
  /** The float32 midpoint of each piece: below it the rising line is the smaller, from it on the falling one. */
  readonly mean: Float64Array;
  readonly rlow: Float64Array;
  readonly rhigh: Float64Array;
  readonly slopeLow: Float64Array;
  readonly slopeHigh: Float64Array;
}

export function constraintTable(scale: number, levels: readonly number[], ucs: number): ConstraintTable {
  const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
  const col = (pick: (p: Piece) => number): Float64Array => Float64Array.from(ps, pick);
  return {
    lo,
    hi,
    qlow: col((p) => p.qlow),
    qhigh: col((p) => p.qhigh),
    height: col((p) => p.height),
    toMeanLow: col((p) => p.toMeanLow),
    toMeanHigh: col((p) => p.toMeanHigh),
    windowTop: col((p) => p.windowTop),
    mean: col((p) => p.mean),
    rlow: col((p) => p.rlow),
    rhigh: col((p) => p.rhigh),
    slopeLow: col((p) => p.slopeLow),
    slopeHigh: col((p) => p.slopeHigh),
  };
}

/**
 * c(w) and dc/dw at one position, written into `out` (reused, so that no loop allocates per weight) — the one
 * implementation every array form uses, the fused update pass included.
 */
export function constraintAt(x: number, t: ConstraintTable, out: {c: number; slope: number}): void {
  const f = Math.fround;
  // Slope 1 where no piece claims the position (NaN), as the reference leaves the incoming gradient there.
  out.c = Number.isNaN(x) ? NaN : 0;
  out.slope = 1;
  if (x < t.lo) {
    out.c = f(-2 * f(x - t.lo));
    out.slope = -2;
  } else if (x >= t.hi) {
    out.c = f(2 * f(x - t.hi));
    out.slope = 2;
  } else {
    const {qlow, qhigh} = t;
    for (let p = 0; p < qlow.length; p++) {
      if (!(x >= qlow[p] && x < qhigh[p])) continue;
      // The definition's min(rising, falling) with one division: below the float32 midpoint f(x − qlow) ≤
      // toMeanLow, so rising ≤ 1 ≤ falling after rounding (rounding is monotonic and 1 is exact); from the midpoint
      // on the other way round.
      const ratio = x < t.mean[p] ? f(f(x - qlow[p]) / t.toMeanLow[p]) : f(f(x - qhigh[p]) / t.toMeanHigh[p]);
      const line = Math.max(0, f(ratio * t.height[p]));
      out.c = line > t.windowTop[p] ? 0 : line;
      out.slope = x < t.rlow[p] ? t.slopeLow[p] : x >= t.rhigh[p] ? t.slopeHigh[p] : 0;
      return;
    }
  }
}

/**
 * Σ λ⊙c(w) and its gradient λ⊙dc/dw computed directly on the arrays, in one pass, with the reference's float32
 * thresholds and slopes (the tests hold it to the reference and to the definition written out plainly). Both engines
 * use it: as tensors it would take dozens of full-size operations, which on wasm cost more than a small network's
 * whole batch work.
 */
export function constraintOnArrays(w: Float32Array, lambda: Float32Array, scale: number, levels: readonly number[], ucs: number): {value: number; grad: Float32Array} {
  const f = Math.fround;
  const t = constraintTable(scale, levels, ucs);
  const grad = new Float32Array(w.length);
  const at = {c: 0, slope: 1};
  let value = 0;
  for (let i = 0; i < w.length; i++) {
    constraintAt(w[i], t, at);
    value += f(at.c * lambda[i]);
    grad[i] = f(at.slope * lambda[i]);
  }
  return {value, grad};
}

/** Σ c(w) over a layer (λ = 1), without the gradient: the constraint-satisfaction measure's sum. */
function constraintTotal(w: Float32Array, scale: number, levels: readonly number[], ucs: number): number {
  const t = constraintTable(scale, levels, ucs);
  const at = {c: 0, slope: 1};
  let value = 0;
  for (let i = 0; i < w.length; i++) {
    constraintAt(w[i], t, at);
    value += at.c;
  }
  return value;
}

/** The values c(w) elementwise (the gradient of Σ λ⊙c(w) with respect to λ, which the λ ascent follows). */
export function constraintValues(w: Float32Array, scale: number, levels: readonly number[], ucs: number): Float32Array {
  const t = constraintTable(scale, levels, ucs);
  const at = {c: 0, slope: 1};
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    constraintAt(w[i], t, at);
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
