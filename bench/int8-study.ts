/**
 * `node dist/bench/int8-study.js STUDY_DIR… [--write]`: top-1 of int8 activations against float activations on the
 * constrained runs `npm run study` trained (each STUDY_DIR's `cbp-QUANT-sSEED` folders). For each run it exports the
 * file twice with `--activations int8`, once per calibration method (min/max and percentile, 256 training images),
 * and takes the top-1 that export measures on the whole test set for the int8 file and for the float-activation file
 * of the same weights. Prints one row per data set, model and constraint (mean ± std over the seeds, and the
 * largest drop of any seed); --write puts the table into docs/RESULTS.md between its `int8` markers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {exportCheckpoint} from '../src/app/export';
import {readCheckpoint} from '../src/run/checkpoint';
import {errorMessage} from '../src/core/errors';
import {CALIBRATION_METHODS, type CalibrationMethod} from '../onnx/int8';
import {writeDocBlock} from './doc-block';

const ROOT = path.resolve(__dirname, '..', '..');

interface Seed {
  readonly float: number;
  readonly int8: Record<CalibrationMethod, number>;
  readonly images: number;
}

const meanStd = (xs: readonly number[]): string => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const s = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return xs.length > 1 ? `${(m * 100).toFixed(2)} ± ${(s * 100).toFixed(2)}` : (m * 100).toFixed(2);
};

async function main(): Promise<void> {
  const dirs = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (dirs.length === 0) throw new Error('usage: int8-study.js STUDY_DIR… [--write]');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-int8-study-'));
  const groups = new Map<string, Seed[]>();
  try {
    for (const dir of dirs) {
      const runs = fs.readdirSync(dir).filter((d) => /^cbp-[a-z0-9]+-s\d+$/.test(d) && fs.statSync(path.join(dir, d)).isDirectory()).sort();
      for (const run of runs) {
        const ck = path.join(dir, run);
        const {config} = readCheckpoint(ck).state;
        const key = `${config.model}${config.base !== undefined ? ` (width ${config.base})` : ''}|${config.data}|${config.quant}`;
        const int8: Partial<Record<CalibrationMethod, number>> = {};
        let float = 0;
        let images = 0;
        for (const method of CALIBRATION_METHODS) {
          const r = await exportCheckpoint({checkpoint: ck, format: 'onnx', weights: 'auto', activations: 'int8', calibration: method, out: path.join(tmp, `${run}-${method}.onnx`)});
          const c = r.int8?.check;
          if (c === undefined || c.floatTop1 === null || c.int8Top1 === null) throw new Error(`${ck}: the export measured no top-1`);
          int8[method] = c.int8Top1;
          float = c.floatTop1;
          images = c.images;
        }
        const seed: Seed = {float, int8: {minmax: int8.minmax ?? NaN, percentile: int8.percentile ?? NaN}, images};
        process.stderr.write(`${ck}: float ${(float * 100).toFixed(2)}, int8 min/max ${(seed.int8.minmax * 100).toFixed(2)}, percentile ${(seed.int8.percentile * 100).toFixed(2)} (${images} test images)\n`);
        groups.set(key, [...(groups.get(key) ?? []), seed]);
      }
    }
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
  const header = ['model', 'data', 'constraint', 'seeds', 'float activations', 'int8, min/max', 'int8, percentile', 'largest drop of a seed (min/max / percentile), points'];
  const rows = [...groups].map(([key, seeds]) => {
    const [model, data, quant] = key.split('|');
    const drop = (m: CalibrationMethod): string => (Math.max(...seeds.map((s) => s.float - s.int8[m])) * 100).toFixed(2);
    return [model, data, quant, String(seeds.length), meanStd(seeds.map((s) => s.float)), meanStd(seeds.map((s) => s.int8.minmax)), meanStd(seeds.map((s) => s.int8.percentile)), `${drop('minmax')} / ${drop('percentile')}`];
  });
  const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const cpu = os.cpus()[0]?.model.trim() ?? 'CPU';
  const block = `Measured ${new Date().toISOString().slice(0, 10)} by \`node dist/bench/int8-study.js ${dirs.map((d) => `study/${path.basename(path.resolve(d))}`).join(' ')} --write\` (${cpu}); top-1 in %, mean ± std over seeds, on the whole test set (10,000 images).\n\n${table}\n`;
  process.stdout.write(block);
  if (process.argv.includes('--write')) writeDocBlock(path.join(ROOT, 'docs', 'RESULTS.md'), 'int8', block);
}

main().catch((err: unknown) => {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(1);
});
