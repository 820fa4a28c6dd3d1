/**
 * The Markdown table of one or more `npm run study` outputs (e.g. seeds run as separate processes):
 * node dist/bench/study-table.js study/fm study/fm3 ... Reads each DIR/results.json, merges the rows, prints top-1
 * mean ± std over seeds per method and constraint, and under it how many constrained weights CBP put at another
 * level than STE and than rounding (from the checkpoints in each DIR). A row met again (the same method, constraint
 * and seed: e.g. a float model reused by a later study with --float) counts once, from the first DIR that has it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {compareLevels, latentStats, type LatentStats} from './levels';
import {studyTable, type StudyRow as Row} from './study-rows';

const dirs = process.argv.slice(2);
const rows: (Row & {dir: string})[] = [];
const meta: Record<string, unknown>[] = [];
for (const dir of dirs) {
  const r = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as {rows: Row[]} & Record<string, unknown>;
  meta.push({...r, rows: undefined});
  for (const row of r.rows) {
    if (rows.some((x) => x.method === row.method && x.quant === row.quant && x.seed === row.seed)) continue;
    rows.push({...row, dir});
  }
}
const seeds = [...new Set(rows.map((r) => r.seed))].sort();
process.stdout.write(`seeds ${seeds.join(', ')}; ${JSON.stringify(meta)}\n\n`);
// The comparisons are read from the checkpoints, so rows from studies that did not record them are covered too.
process.stdout.write(
  studyTable(rows, (r, other) => {
    const dir = (r as Row & {dir: string}).dir;
    // The other run from the CBP row's study, else from any of the studies given (rounding lives with the floats).
    const a = [dir, ...dirs].map((d) => path.join(d, `${other}-${r.quant}-s${r.seed}`)).find((d) => fs.existsSync(d));
    return a !== undefined ? compareLevels(a, path.join(dir, `cbp-${r.quant}-s${r.seed}`)) : undefined;
  }),
);
const time = (m: string): string => {
  const s = rows.filter((r) => r.method === m).map((r) => r.seconds);
  return s.length === 0 ? '–' : `${Math.min(...s).toFixed(0)}–${Math.max(...s).toFixed(0)} s`;
};
process.stdout.write(`\nwall time per run: float ${time('float')}, ste ${time('ste')}, cbp ${time('cbp')}\n`);

// Where the trained latent weights sit: CFS, exactly on a level, within 1% of the scale — mean over seeds, STE and
// CBP side by side — and the runs' training times.
const trained = rows.filter((r) => r.method === 'ste' || r.method === 'cbp');
const quants = [...new Set(trained.map((r) => r.quant))];
const stats = new Map(trained.map((r) => [r, latentStats(path.join(r.dir, `${r.method}-${r.quant}-s${r.seed}`))]));
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const cell = (q: string, f: (s: LatentStats) => number, digits: (v: number) => string): string =>
  (['ste', 'cbp'] as const).map((m) => digits(mean(trained.filter((r) => r.method === m && r.quant === q).map((r) => f(stats.get(r) ?? {weights: 0, onLevel: 0, near: 0, cfs: NaN, seconds: NaN}))))).join(' / ');
if (trained.length > 0) {
  process.stdout.write(`\n| STE / CBP, mean over seeds | ${quants.join(' | ')} |\n|---|${quants.map(() => '---').join('|')}|\n`);
  const row = (label: string, f: (s: LatentStats) => number, digits: (v: number) => string): void =>
    void process.stdout.write(`| ${label} | ${quants.map((q) => cell(q, f, digits)).join(' | ')} |\n`);
  row('CFS after training', (s) => s.cfs, (v) => v.toExponential(2));
  row('latent weights exactly on a level, %', (s) => (100 * s.onLevel) / s.weights, (v) => v.toFixed(2));
  row('within 1% of the scale from a level, %', (s) => (100 * s.near) / s.weights, (v) => v.toFixed(2));
  row('training time per run (Σ epochs), s', (st) => st.seconds, (v) => v.toFixed(0));
}
