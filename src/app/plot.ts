import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import {CbpError, errnoCode, errorMessage} from '../core/errors';
import {readCheckpoint, modelWeights} from '../run/checkpoint';
import {writeFileAtomic} from '../core/atomic';
import {LEVELS} from '../cbp/levels';
import {specOf} from '../run/spec-of';
import {page, type Panel} from './svg';

export interface PlotResult {
  readonly curves: string;
  readonly weights: string | null;
  readonly width: number;
  readonly height: number;
}

const MAX_POINTS = 2000;

function thin<T>(items: readonly T[], max: number): readonly T[] {
  if (items.length <= max) return items;
  return Array.from({length: max}, (_, i) => items[Math.round((i * (items.length - 1)) / (max - 1))]);
}

async function toPng(svg: string, file: string): Promise<void> {
  try {
    writeFileAtomic(file, await sharp(Buffer.from(svg)).png().toBuffer());
  } catch (err) {
    if (err instanceof CbpError) throw err;
    throw new CbpError(`cannot render ${file}: ${errorMessage(err)}`);
  }
}

/**
 * PNG pictures of a run: `curves.png` (top-1, loss, Lagrangian sum, CFS, mean λ, ucs per epoch, λ updates marked)
 * and `weights.png` (for each constrained layer, the histogram of latent weights in units of the layer's scale,
 * with the allowed levels marked).
 */
export async function plotRun(dir: string, outDir = dir): Promise<PlotResult> {
  const ck = readCheckpoint(dir, 'plot');
  const {config, progress} = ck.state;
  if (progress.length === 0) throw new CbpError(`plot ${dir}: the run has no completed epoch yet`);
  try {
    fs.mkdirSync(outDir, {recursive: true});
  } catch (err) {
    throw new CbpError(`--out ${outDir}: cannot create the folder (${errnoCode(err) ?? errorMessage(err)})`, 'WRITE_FAILED');
  }
  // A picture 460 pixels wide shows no more than this many epochs; longer runs are thinned evenly.
  const shown = thin(progress, MAX_POINTS);
  const ep = (f: (r: (typeof progress)[number]) => number): [number, number][] => shown.map((r) => [r.epoch, f(r)]);
  const updates = thin(progress.filter((r) => r.lambdaUpdated).map((r) => r.epoch), MAX_POINTS);
  const mk = (title: string, yLabel: string, color: string, points: [number, number][]): Panel => ({
    title,
    xLabel: 'epoch',
    yLabel,
    series: [{name: title, color, points}],
    marks: updates,
    markLabel: updates.length > 0 ? '- - λ updated' : undefined,
    integerX: true,
  });
  const curves = page(
    [
      mk('Top-1 accuracy (quantized weights)', 'top-1 (%)', '#1f77b4', ep((r) => r.top1 * 100)),
      mk('Training loss (cross-entropy)', 'loss', '#ff7f0e', ep((r) => r.loss)),
      mk('Lagrangian sum over the epoch', 'Σ (loss + λ·c)', '#2ca02c', ep((r) => r.lagrangian)),
      mk('Constraint satisfaction (CFS)', 'mean c(w), ucs = 1', '#d62728', ep((r) => r.cfs)),
      mk('Mean Lagrange multiplier', 'mean λ', '#9467bd', ep((r) => r.lambdaMean)),
      mk('Unconstrained-window size', 'ucs = 1 − 1/g', '#8c564b', ep((r) => r.ucs)),
    ],
    3,
    {w: 460, h: 320},
    `${config.model} · ${config.quant} · ${config.data} — ${progress.length} epochs`,
  );
  const curvesFile = path.join(outDir, 'curves.png');
  await toPng(curves.svg, curvesFile);

  let weightsFile: string | null = null;
  if (config.quant !== 'none') {
    const spec = specOf(config);
    const weights = modelWeights(ck.tensors);
    const levels = LEVELS[config.quant];
    const panels: Panel[] = [];
    for (const node of spec.nodes) {
      if ((node.kind !== 'conv2d' && node.kind !== 'dense') || !node.constrained) continue;
      const w = weights.get(`${node.name}.weight`);
      const s = weights.get(`${node.name}.scale`)?.data[0];
      if (!w || !s) continue;
      const lo = -1.75;
      const hi = 1.75;
      const bins = 70;
      const counts = new Array<number>(bins).fill(0);
      for (const v of w.data) {
        const u = Math.min(Math.max(v / s, lo), hi - 1e-9);
        counts[Math.floor(((u - lo) / (hi - lo)) * bins)]++;
      }
      panels.push({
        title: `${node.name} (${w.data.length} weights, scale ${s.toPrecision(3)})`,
        xLabel: 'latent weight / scale (outside ±1.75 in the end bins)',
        yLabel: 'weights',
        series: [{name: node.name, color: '#1f77b4', points: counts.map((c, i) => [lo + ((i + 0.5) * (hi - lo)) / bins, c])}],
        marks: levels,
        markLabel: `- - allowed levels (${config.quant})`,
        bars: true,
        xRange: [lo, hi],
      });
    }
    if (panels.length > 0) {
      const cols = Math.min(3, panels.length);
      const hist = page(panels, cols, {w: 460, h: 320}, `${config.model} · ${config.quant}: latent weights against the allowed levels`);
      weightsFile = path.join(outDir, 'weights.png');
      await toPng(hist.svg, weightsFile);
    }
  }
  return {curves: curvesFile, weights: weightsFile, width: curves.width, height: curves.height};
}
