import type {LevelComparison} from './levels';

/** One measured row of `npm run study` (results.json). */
export interface StudyRow {
  seed: number;
  method: string;
  quant: string;
  top1: number;
  seconds: number;
  /** For CBP: how many constrained weights sit at another level than in the STE run and in the rounded float model. */
  levelsVsSte?: LevelComparison;
  levelsVsRound?: LevelComparison;
}

/** Top-1 over seeds as a percentage, "mean ± sample std" (just the value for one seed, '–' for none). */
export function meanStd(xs: number[]): string {
  if (xs.length === 0) return '–';
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(xs.length - 1, 1));
  return xs.length > 1 ? `${(m * 100).toFixed(2)} ± ${(sd * 100).toFixed(2)}` : (m * 100).toFixed(2);
}
