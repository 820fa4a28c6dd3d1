/**
 * The Markdown table of one or more `npm run study` outputs (e.g. seeds run as separate processes):
 * node dist/bench/study-table.js study/fm study/fm3 ... Reads each DIR/results.json, merges the rows, prints top-1
 * mean ± std over seeds per method and constraint, and under it how many constrained weights CBP put at another
 * level than STE and than rounding (from the checkpoints in each DIR). A row met again (the same method, constraint
 * and seed: e.g. a float model reused by a later study with --float) counts once, from the first DIR that has it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {compareLevels} from './levels';
import {meanStd, type StudyRow as Row} from './study-rows';

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
const quants = [...new Set(rows.filter((r) => r.quant !== 'none').map((r) => r.quant))];
const stat = meanStd;
const seeds = [...new Set(rows.map((r) => r.seed))].sort();
process.stdout.write(`seeds ${seeds.join(', ')}; ${JSON.stringify(meta)}\n\n`);
process.stdout.write(`| method | ${quants.join(' | ')} |\n|---|${quants.map(() => '---').join('|')}|\n`);
const floatTop = rows.filter((r) => r.method === 'float').map((r) => r.top1);
process.stdout.write(`| float | ${quants.map(() => stat(floatTop)).join(' | ')} |\n`);
for (const method of ['round', 'roundbn', 'ste', 'cbp'].filter((m) => rows.some((r) => r.method === m))) {
  process.stdout.write(`| ${method} | ${quants.map((q) => stat(rows.filter((r) => r.method === method && r.quant === q).map((r) => r.top1))).join(' | ')} |\n`);
}
const moved = (q: string, other: string): string => {
  let differ = 0;
  let weights = 0;
  for (const r of rows.filter((x) => x.method === 'cbp' && x.quant === q)) {
    const a = path.join(r.dir, `${other}-${q}-s${r.seed}`);
    if (!fs.existsSync(a)) continue;
    const c = compareLevels(a, path.join(r.dir, `cbp-${q}-s${r.seed}`));
    differ += c.differ;
    weights += c.weights;
  }
  return weights === 0 ? '–' : `${differ} of ${weights}`;
};
process.stdout.write(`| CBP weights at another level than STE's | ${quants.map((q) => moved(q, 'ste')).join(' | ')} |\n`);
process.stdout.write(`| CBP weights at another level than rounding's | ${quants.map((q) => moved(q, 'round')).join(' | ')} |\n`);
const time = (m: string): string => {
  const s = rows.filter((r) => r.method === m).map((r) => r.seconds);
  return s.length === 0 ? '–' : `${Math.min(...s).toFixed(0)}–${Math.max(...s).toFixed(0)} s`;
};
process.stdout.write(`\nwall time per run: float ${time('float')}, ste ${time('ste')}, cbp ${time('cbp')}\n`);
