/**
 * Two runs' training curves on one picture (docs/RESULTS.md's CBP-against-STE pair): top-1, training loss, CFS, mean
 * λ and ucs per epoch, the first run's λ updates marked.
 *
 *   node dist/bench/compare-curves.js RUN_A RUN_B --labels CBP,STE --out docs/img/pair.png
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import sharp from 'sharp';
import {readCheckpoint, type EpochRecord} from '../src/run/checkpoint';
import {page, type Panel} from '../src/app/svg';
import {writeFileAtomic} from '../src/core/atomic';

const COLORS = ['#1f77b4', '#ff7f0e'] as const;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const runs = process.argv.slice(2, 4);
  if (runs.length !== 2 || runs.some((r) => r.startsWith('--'))) throw new Error('usage: compare-curves RUN_A RUN_B [--labels A,B] [--out FILE.png]');
  const labels = arg('labels', runs.map((r) => path.basename(r)).join(',')).split(',');
  const out = arg('out', 'pair.png');
  const states = runs.map((r) => readCheckpoint(r).state);
  const legend = labels.map((l, i) => `${l}: ${i === 0 ? 'blue' : 'orange'}`).join(', ');
  const updates = states[0].progress.filter((r) => r.lambdaUpdated).map((r) => r.epoch);
  const mk = (title: string, yLabel: string, f: (r: EpochRecord) => number): Panel => ({
    title,
    xLabel: 'epoch',
    yLabel,
    series: states.map((s, i) => ({name: labels[i], color: COLORS[i], points: s.progress.map((r): [number, number] => [r.epoch, f(r)])})),
    marks: updates,
    markLabel: updates.length > 0 ? `- - λ updated (${labels[0]})` : undefined,
    integerX: true,
  });
  const panels = [
    mk('Top-1, quantized weights', 'top-1 (%)', (r) => r.top1 * 100),
    mk('Training loss', 'cross-entropy', (r) => r.loss),
    mk('Constraint satisfaction (CFS)', 'mean c(w), ucs = 1', (r) => r.cfs),
    mk('Mean Lagrange multiplier', 'mean λ', (r) => r.lambdaMean),
    mk('Unconstrained-window size', 'ucs', (r) => r.ucs),
  ];
  const c = states[0].config;
  const {svg} = page(panels, 3, {w: 460, h: 320}, `${c.model} · ${c.quant} · ${c.data} — ${legend}`);
  fs.mkdirSync(path.dirname(path.resolve(out)), {recursive: true});
  writeFileAtomic(out, await sharp(Buffer.from(svg)).png().toBuffer());
  process.stdout.write(`${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
