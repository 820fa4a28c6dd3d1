import type {Quant} from '../../models/spec';

/** The allowed weight values of each constraint, in units of the layer's scale, ascending. */
export const LEVELS: Record<Quant, readonly number[]> = {
  bin: [-1, 1],
  ter: [-1, 0, 1],
  '1bit': [-1, -1 / 2, 0, 1 / 2, 1],
  '2bit': [-1, -1 / 2, -1 / 4, 0, 1 / 4, 1 / 2, 1],
};

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

/** Index of the level nearest to w/scale (ties go up, as sign(0) quantizes a midpoint halfway in the reference). */
export function nearestLevelIndex(levels: readonly number[], value: number, scale: number): number {
  let best = 0;
  for (let i = 1; i < levels.length; i++) {
    if (value >= ((levels[i - 1] + levels[i]) / 2) * scale) best = i;
  }
  return best;
}
