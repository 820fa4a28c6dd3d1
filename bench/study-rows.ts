import type {LevelComparison} from './levels';

/** One measured row of `npm run study` (results.json). */
export interface StudyRow {
  seed: number;
  method: string;
  quant: string;
  top1: number;
  seconds: number;
  /** For a constrained run: the constraint-satisfaction measure (CFS) of its latent weights after training. */
  cfs?: number;
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

/** The study's methods, in table order. */
export const STUDY_METHODS = ['round', 'roundbn', 'ste', 'cbp'] as const;

/** "differ of weights" summed over several comparisons ('–' for none). */
export function countDiffering(cs: readonly LevelComparison[]): string {
  return cs.length === 0 ? '–' : `${cs.reduce((a, c) => a + c.differ, 0)} of ${cs.reduce((a, c) => a + c.weights, 0)}`;
}

/** CFS over seeds, "mean" in exponent notation ('–' for none). */
export function meanCfs(xs: readonly number[]): string {
  return xs.length === 0 ? '–' : (xs.reduce((a, b) => a + b, 0) / xs.length).toExponential(2);
}

/**
 * The Markdown table of a study's rows: top-1 mean ± std over seeds for float and each method present, per
 * constraint; the CFS of each constrained method's runs (mean over seeds) where the rows carry it; then, where CBP
 * rows exist, the constrained weights CBP puts at another level than STE and than rounding — `compare(row, 'ste' | 'round')` gives the comparison for one CBP row, or undefined where there is none.
 */
export function studyTable(rows: readonly StudyRow[], compare: (cbpRow: StudyRow, other: 'ste' | 'round') => LevelComparison | undefined): string {
  const quants = [...new Set(rows.filter((r) => r.quant !== 'none').map((r) => r.quant))];
  const line = (label: string, cells: string[]): string => `| ${label} | ${cells.join(' | ')} |\n`;
  const floatTop = meanStd(rows.filter((r) => r.method === 'float').map((r) => r.top1));
  let out = line('method', quants) + `|---|${quants.map(() => '---').join('|')}|\n` + line('float', quants.map(() => floatTop));
  for (const method of STUDY_METHODS.filter((m) => rows.some((r) => r.method === m))) {
    out += line(method, quants.map((q) => meanStd(rows.filter((r) => r.method === method && r.quant === q).map((r) => r.top1))));
  }
  for (const method of STUDY_METHODS.filter((m) => rows.some((r) => r.method === m && r.cfs !== undefined))) {
    out += line(`${method} CFS`, quants.map((q) => meanCfs(rows.filter((r) => r.method === method && r.quant === q).flatMap((r) => r.cfs ?? []))));
  }
  if (!rows.some((r) => r.method === 'cbp')) return out;
  const moved = (q: string, other: 'ste' | 'round'): string =>
    countDiffering(rows.filter((r) => r.method === 'cbp' && r.quant === q).flatMap((r) => compare(r, other) ?? []));
  out += line("CBP weights at another level than STE's", quants.map((q) => moved(q, 'ste')));
  out += line("CBP weights at another level than rounding's", quants.map((q) => moved(q, 'round')));
  return out;
}
