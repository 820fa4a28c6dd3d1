import {perConstraint} from './registry';

/** The allowed weight values of each constraint, in units of the layer's scale, ascending (from the registry). */
export const LEVELS = perConstraint((c) => c.levels);

export interface Segments {
  /** Gap between neighbouring levels (df in the reference). */
  readonly gaps: readonly number[];
  /** Midpoint between neighbouring levels (b in the reference). */
  readonly mids: readonly number[];
}

export function segments(levels: readonly number[]): Segments {
  const gaps: number[] = [];
  const mids: number[] = [];
  for (let i = 0; i + 1 < levels.length; i++) {
    gaps.push(levels[i + 1] - levels[i]);
    mids.push((levels[i + 1] + levels[i]) / 2);
  }
  return {gaps, mids};
}

/**
 * The level a latent weight maps to under the reference quantizer: the number of midpoints (float32, scaled) it lies
 * above. A weight exactly on a midpoint — the reference puts it halfway between two levels, sign(0) = 0 — is counted
 * one level up and flagged by a negative return: −(k + 1).
 */
function levelOf(w: number, mids: readonly number[]): number {
  let k = 0;
  let onMid = false;
  for (const m of mids) {
    if (w > m) k++;
    else if (w === m) (k++, (onMid = true));
  }
  return onMid ? -(k + 1) : k;
}

function scaledMids(levels: readonly number[], scale: number): number[] {
  return segments(levels).mids.map((m) => Math.fround(m * scale));
}

/**
 * Index of the level each latent weight maps to (midpoint weights one level up, counted in `onMidpoint`): the one
 * answer to "which level does w map to", used by the ONNX encoder, `cbp info`, the histograms and the study.
 */
export function levelIndices(latent: Float32Array, scale: number, levels: readonly number[]): {index: Uint8Array; onMidpoint: number} {
  const mids = scaledMids(levels, scale);
  const index = new Uint8Array(latent.length);
  let onMidpoint = 0;
  for (let i = 0; i < latent.length; i++) {
    const k = levelOf(latent[i], mids);
    if (k < 0) onMidpoint++;
    index[i] = k < 0 ? -k - 1 : k;
  }
  return {index, onMidpoint};
}

/**
 * The latent weights as an export stores them: a weight exactly on a midpoint (which the reference quantizes halfway
 * between two levels, where no code can say it) moved onto the level above, as levelIndices counts it; the others
 * unchanged. The same array when no weight is on a midpoint.
 */
export function asStored(latent: Float32Array, scale: number, levels: readonly number[]): Float32Array {
  const mids = scaledMids(levels, scale);
  let out: Float32Array | undefined;
  for (let i = 0; i < latent.length; i++) {
    const k = levelOf(latent[i], mids);
    if (k >= 0) continue;
    out ??= Float32Array.from(latent);
    out[i] = Math.fround(levels[-k - 1] * scale);
  }
  return out ?? latent;
}

/** How many latent weights map to each level; those exactly on a midpoint (quantized to no level) apart. */
export function levelCounts(latent: Float32Array, scale: number, levels: readonly number[]): {counts: number[]; offLevel: number} {
  const mids = scaledMids(levels, scale);
  const counts = levels.map(() => 0);
  let offLevel = 0;
  for (let i = 0; i < latent.length; i++) {
    const k = levelOf(latent[i], mids);
    if (k < 0) offLevel++;
    else counts[k]++;
  }
  return {counts, offLevel};
}

/**
 * The quantizer's float32 constants for a layer: the scaled midpoints, the value of a weight with k midpoints below
 * it (below[k]) and of a weight exactly on midpoint k (onMid[k]).
 */
export interface Quantizer {
  readonly mids: Float64Array;
  readonly below: Float64Array;
  readonly onMid: Float64Array;
}

export function quantizer(scale: number, levels: readonly number[]): Quantizer {
  const f = Math.fround;
  const {gaps, mids} = segments(levels);
  const s = f(scale);
  const below: number[] = [];
  const onMid: number[] = [];
  let acc = 0;
  for (let k = 0; k <= mids.length; k++) {
    below.push(f(f(acc - 1) * s));
    if (k < mids.length) {
      onMid.push(f(f(f(acc + f(gaps[k] / 2)) - 1) * s));
      acc = f(acc + f(2 * f(gaps[k] / 2)));
    }
  }
  return {mids: Float64Array.from(mids, (v) => f(v * scale)), below: Float64Array.from(below), onMid: Float64Array.from(onMid)};
}

/**
 * The reference quantizer of one latent weight, in float32 exactly as PyTorch computes it:
 * (Σ_i (sign(w − mid_i·s) + 1)·gap_i/2 − 1)·s, with sign(0) = 0 (a weight on a midpoint lands halfway). The sum
 * depends only on how many midpoints lie below w and whether w equals the next one, so its float32 value for each
 * case is computed once (`quantizer`) and looked up. The one quantizer: quantizeArray and the fused update use it.
 */
export function quantizeOne(w: number, q: Quantizer): number {
  if (Number.isNaN(w)) return NaN;
  const {mids} = q;
  const n = mids.length;
  let k = 0;
  while (k < n && w > mids[k]) k++;
  return k < n && w === mids[k] ? q.onMid[k] : q.below[k];
}

/** The reference quantizer (quantizeOne) on an array, into `out`. */
export function quantizeArray(latent: Float32Array, scale: number, levels: readonly number[], out: Float32Array<ArrayBuffer> = new Float32Array(latent.length)): Float32Array<ArrayBuffer> {
  const q = quantizer(scale, levels);
  for (let i = 0; i < latent.length; i++) out[i] = quantizeOne(latent[i], q);
  return out;
}
