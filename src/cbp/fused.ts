import {pieces} from './constraint-arrays';
import {quantizerTable} from './levels';
import {GRAD_CLIP, MOMENTUM, type UpdateRule} from './update';

/**
 * One pass over a constrained layer that does, per weight, what three passes did (constraintOnArrays,
 * updateWeights, quantizeArray) — bit for bit the same float32 arithmetic, in the same order:
 *   1. c(w) and λ⊙dc/dw at the latent weight before the update (Σ λ⊙c(w) is returned);
 *   2. the reference's update with that gradient added (clip, decay, momentum, clamp);
 *   3. the quantized value of the updated weight, written to `quantized` for the next forward pass.
 * On ResNet-18's 11 M constrained weights this is what the CPU does between two ONNX Runtime runs, so it is on
 * the critical path of every step; one pass reads each array once.
 */
export interface FusedLayer {
  readonly scale: number;
  readonly levels: readonly number[];
  /** λ, or undefined when the run has no constraint term (STE): then only steps 2 and 3. */
  readonly lambda: Float32Array | undefined;
  readonly quantized: Float32Array;
}

/** The per-layer constants of c(w) and of the quantizer as flat arrays, so the loop reads numbers, not objects. */
interface Tables {
  lo: number;
  hi: number;
  qlow: Float64Array;
  qhigh: Float64Array;
  height: Float64Array;
  toMeanLow: Float64Array;
  toMeanHigh: Float64Array;
  windowTop: Float64Array;
  /** The float32 midpoint of each piece: below it the rising line is the smaller, from it on the falling one. */
  mean: Float64Array;
  rlow: Float64Array;
  rhigh: Float64Array;
  slopeLow: Float64Array;
  slopeHigh: Float64Array;
  mids: Float64Array;
  below: Float64Array;
  onMid: Float64Array;
}

function tables(scale: number, levels: readonly number[], ucs: number): Tables {
  const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
  const col = (pick: (p: (typeof ps)[number]) => number): Float64Array => Float64Array.from(ps, pick);
  const quantizer = quantizerTable(scale, levels);
  return {
    lo,
    hi,
    qlow: col((p) => p.qlow),
    qhigh: col((p) => p.qhigh),
    height: col((p) => p.height),
    toMeanLow: col((p) => p.toMeanLow),
    toMeanHigh: col((p) => p.toMeanHigh),
    windowTop: col((p) => p.windowTop),
    mean: Float64Array.from(quantizer.mids),
    rlow: col((p) => p.rlow),
    rhigh: col((p) => p.rhigh),
    slopeLow: col((p) => p.slopeLow),
    slopeHigh: col((p) => p.slopeHigh),
    mids: Float64Array.from(quantizer.mids),
    below: Float64Array.from(quantizer.below),
    onMid: Float64Array.from(quantizer.onMid),
  };
}

/**
 * Updates `w` and `momentum` in place over [from, to) and writes the quantized new weights; returns Σ λ⊙c(w) over
 * that range at the weights before the update (0 without λ).
 */
export function fusedUpdate(w: Float32Array, grad: Float32Array, momentum: Float32Array, rule: UpdateRule, layer: FusedLayer, ucs: number, from = 0, to = w.length): number {
  const n = w.length;
  if (grad.length !== n || momentum.length !== n || layer.quantized.length !== n || (layer.lambda !== undefined && layer.lambda.length !== n)) {
    throw new Error(`internal: fused update of ${n} weights with ${grad.length} gradients, ${momentum.length} momenta`);
  }
  const f = Math.fround;
  const t = tables(layer.scale, layer.levels, ucs);
  const {lo, hi, qlow, qhigh, height, toMeanLow, toMeanHigh, windowTop, mean, rlow, rhigh, slopeLow, slopeHigh, mids, below, onMid} = t;
  const clip = GRAD_CLIP;
  const np = qlow.length;
  const nm = mids.length;
  const lr = f(rule.lr);
  const wd = f(rule.weightDecay);
  const beta = f(MOMENTUM);
  const clamp = rule.clamp;
  const lambda = layer.lambda;
  const q = layer.quantized;
  let value = 0;
  for (let i = from; i < to; i++) {
    const x = w[i];
    let g = grad[i];
    if (lambda !== undefined) {
      // c(w) and dc/dw as constraint-arrays.ts's pointwise() computes them.
      let c = Number.isNaN(x) ? NaN : 0;
      let slope = 1;
      if (x < lo) {
        c = f(-2 * f(x - lo));
        slope = -2;
      } else if (x >= hi) {
        c = f(2 * f(x - hi));
        slope = 2;
      } else {
        for (let p = 0; p < np; p++) {
          if (!(x >= qlow[p] && x < qhigh[p])) continue;
          // min(rising, falling) of pointwise() with one division: below the float32 midpoint f(x − qlow) ≤
          // toMeanLow, so rising ≤ 1 ≤ falling after rounding (rounding is monotonic and 1 is exact); from the
          // midpoint on the other way round.
          const ratio = x < mean[p] ? f(f(x - qlow[p]) / toMeanLow[p]) : f(f(x - qhigh[p]) / toMeanHigh[p]);
          const line = Math.max(0, f(ratio * height[p]));
          c = line > windowTop[p] ? 0 : line;
          slope = x < rlow[p] ? slopeLow[p] : x >= rhigh[p] ? slopeHigh[p] : 0;
          break;
        }
      }
      const l = lambda[i];
      value += f(c * l);
      g = f(g + f(slope * l));
    }
    g = g > clip ? clip : g < -clip ? -clip : g;
    if (wd > 0) g = f(g + f(x * wd));
    const m = f(f(momentum[i] * beta) + g);
    momentum[i] = m;
    let next = f(x - f(m * lr));
    if (clamp) next = next > 1 ? 1 : next < -1 ? -1 : next;
    w[i] = next;
    if (Number.isNaN(next)) {
      q[i] = NaN;
    } else {
      let k = 0;
      while (k < nm && next > mids[k]) k++;
      q[i] = k < nm && next === mids[k] ? onMid[k] : below[k];
    }
  }
  return value;
}
