import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import {CbpError, errnoCode, errorMessage} from '../core/errors';
import {readCheckpoint, modelWeights, type EpochRecord, type RunConfig, type RunState} from '../run/checkpoint';
import {CURVES_FILE, HISTOGRAM_FILE} from '../run/run-folder';
import type {Tensor32} from '../core/weights';
import {writeFileAtomic} from '../core/atomic';
import {LEVELS} from '../cbp/levels';
import {specOf} from '../run/spec-of';
import {page, type Panel} from './svg';
import {resolveOptions, type GivenOptions, type OptionSchema} from '../core/options';

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
 * The training curves of a run as SVG: top-1, loss and Lagrangian sum per epoch, and for constrained runs CFS, mean
 * λ and ucs (a float run has no constraint, so those panels would only draw zeros), λ updates marked. `cbp plot`
 * renders it to PNG, `cbp serve` puts it in the page.
 */
export function curvesSvg(state: RunState): {svg: string; width: number; height: number} {
  const {config, progress} = state;
  // A picture 460 pixels wide shows no more than this many epochs; longer runs are thinned evenly.
  const shown = thin(progress, MAX_POINTS);
  const ep = (f: (r: EpochRecord) => number): [number, number][] => shown.map((r) => [r.epoch, f(r)]);
  const updates = config.quant === 'none' ? [] : thin(progress.filter((r) => r.lambdaUpdated).map((r) => r.epoch), MAX_POINTS);
  const mk = (title: string, yLabel: string, color: string, points: [number, number][]): Panel => ({
    title,
    xLabel: 'epoch',
    yLabel,
    series: [{name: title, color, points}],
    marks: updates,
    markLabel: updates.length > 0 ? '- - λ updated' : undefined,
    integerX: true,
  });
  const panels = [
    mk(config.quant === 'none' ? 'Top-1 accuracy' : 'Top-1 accuracy (quantized weights)', 'top-1 (%)', '#1f77b4', ep((r) => r.top1 * 100)),
    mk('Training loss (cross-entropy)', 'loss', '#ff7f0e', ep((r) => r.loss)),
    mk(config.quant === 'none' ? 'Loss summed over the epoch' : 'Lagrangian sum over the epoch', config.quant === 'none' ? 'Σ loss' : 'Σ (loss + λ·c)', '#2ca02c', ep((r) => r.lagrangian)),
  ];
  if (config.quant !== 'none') {
    panels.push(
      mk('Constraint satisfaction (CFS)', 'mean c(w), ucs = 1', '#d62728', ep((r) => r.cfs)),
      mk('Mean Lagrange multiplier', 'mean λ', '#9467bd', ep((r) => r.lambdaMean)),
      mk('Unconstrained-window size', 'ucs = 1 − 1/g', '#8c564b', ep((r) => r.ucs)),
    );
  }
  return page(panels, 3, {w: 460, h: 320}, `${config.model} · ${config.quant} · ${config.data} — ${progress.length} epochs`);
}

export interface LatentHistogram {
  readonly layer: string;
  readonly weights: number;
  readonly scale: number;
  /** Bin centres in units of the scale, from −1.75 to 1.75; weights beyond fall in the end bins. */
  readonly centres: readonly number[];
  readonly counts: readonly number[];
  readonly levels: readonly number[];
}

/** For each constrained layer, the histogram of its latent weights in units of its scale; none for a float run. */
function latentHistograms(config: RunConfig, tensors: ReadonlyMap<string, Tensor32>): LatentHistogram[] {
  if (config.quant === 'none') return [];
  const spec = specOf(config);
  const weights = modelWeights(tensors);
  const levels = LEVELS[config.quant];
  const out: LatentHistogram[] = [];
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
    out.push({layer: node.name, weights: w.data.length, scale: s, centres: counts.map((_, i) => lo + ((i + 0.5) * (hi - lo)) / bins), counts, levels});
  }
  return out;
}

/** The latent-weight histograms as SVG, against the allowed levels; null when the run has no constrained layer. */
export function weightsSvg(config: RunConfig, tensors: ReadonlyMap<string, Tensor32>): {svg: string; width: number; height: number} | null {
  const panels = latentHistograms(config, tensors).map((h): Panel => ({
    title: `${h.layer} (${h.weights} weights, scale ${h.scale.toPrecision(3)})`,
    xLabel: 'latent weight / scale (outside ±1.75 in the end bins)',
    yLabel: 'weights',
    series: [{name: h.layer, color: '#1f77b4', points: h.centres.map((c, i): [number, number] => [c, h.counts[i]])}],
    marks: h.levels,
    markLabel: `- - allowed levels (${config.quant})`,
    bars: true,
    xRange: [-1.75, 1.75],
  }));
  if (panels.length === 0) return null;
  return page(panels, Math.min(3, panels.length), {w: 460, h: 320}, `${config.model} · ${config.quant}: latent weights against the allowed levels`);
}

/** `cbp plot`'s options, one entry each: the flag (the key in kebab-case), its help and check; PlotOptions is typed by it. */
export const PLOT_OPTIONS = {
  out: {kind: 'path', help: 'folder for the PNG files [default: the run folder]'},
} as const satisfies OptionSchema;

export type PlotOptions = GivenOptions<typeof PLOT_OPTIONS>;

/**
 * PNG pictures of a run: `curves.png` (see curvesSvg) and `weights.png` (for each constrained layer, the histogram
 * of latent weights in units of the layer's scale, with the allowed levels marked).
 * Written to `out`, the run folder by default.
 */
export async function plotRun(dir: string, opts: PlotOptions = {}): Promise<PlotResult> {
  const outDir = resolveOptions(PLOT_OPTIONS, opts).out ?? dir;
  const ck = readCheckpoint(dir, 'plot');
  if (ck.state.progress.length === 0) throw new CbpError(`plot ${dir}: the run has no completed epoch yet`);
  try {
    fs.mkdirSync(outDir, {recursive: true});
  } catch (err) {
    throw new CbpError(`--out ${outDir}: cannot create the folder (${errnoCode(err) ?? errorMessage(err)})`, 'WRITE_FAILED');
  }
  const curves = curvesSvg(ck.state);
  const curvesFile = path.join(outDir, CURVES_FILE);
  await toPng(curves.svg, curvesFile);
  const hist = weightsSvg(ck.state.config, ck.tensors);
  let weightsFile: string | null = null;
  if (hist !== null) {
    weightsFile = path.join(outDir, HISTOGRAM_FILE);
    await toPng(hist.svg, weightsFile);
  }
  return {curves: curvesFile, weights: weightsFile, width: curves.width, height: curves.height};
}
