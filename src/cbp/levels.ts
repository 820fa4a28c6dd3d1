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
 * Index of the level each latent weight maps to under the reference quantizer: the number of midpoints it lies at
 * or above, compared in float32 as the forward pass compares them. A weight exactly on a midpoint (the reference
 * puts it halfway between two levels, sign(0) = 0) counts one level up and is counted in `onMidpoint`.
 * The one answer to "which level does w map to", used by the ONNX encoder, `cbp info`, histograms and the study.
 */
export function levelIndices(latent: Float32Array, scale: number, levels: readonly number[]): {index: Uint8Array; onMidpoint: number} {
  const mids = segments(levels).mids.map((m) => Math.fround(m * scale));
  const index = new Uint8Array(latent.length);
  let onMidpoint = 0;
  for (let i = 0; i < latent.length; i++) {
    const w = latent[i];
    let k = 0;
    for (const m of mids) {
      if (w > m) k++;
      else if (w === m) (k++, onMidpoint++);
    }
    index[i] = k;
  }
  return {index, onMidpoint};
}
