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
    const a = path.join(dir, `${other}-${r.quant}-s${r.seed}`);
    return fs.existsSync(a) ? compareLevels(a, path.join(dir, `cbp-${r.quant}-s${r.seed}`)) : undefined;
  }),
);
const time = (m: string): string => {
  const s = rows.filter((r) => r.method === m).map((r) => r.seconds);
  return s.length === 0 ? '–' : `${Math.min(...s).toFixed(0)}–${Math.max(...s).toFixed(0)} s`;
};
process.stdout.write(`\nwall time per run: float ${time('float')}, ste ${time('ste')}, cbp ${time('cbp')}\n`);
