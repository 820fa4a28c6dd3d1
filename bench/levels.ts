/**
 * How many constrained weights sit at a different level in two runs of the same model and constraint:
 * node dist/bench/levels.js RUN_A RUN_B. Prints {layers: [{layer, weights, differ}], weights, differ}. The study
 * uses it to say whether CBP and STE trained different quantized networks or the same one.
 * node dist/bench/levels.js --moved FLOAT RUN: the weights whose level RUN changed from its float starting point,
 * by how far that float weight sat from the nearest midpoint between levels (in units of the layer's scale).
 */
import {readCheckpoint, modelWeights} from '../src/run/checkpoint';
import {LEVELS, levelIndices, quantizeArray, segments} from '../src/cbp/levels';
import {cfsOf} from '../src/cbp/constraint-arrays';
import {CbpError} from '../src/core/errors';

export interface LevelComparison {
  readonly layers: {layer: string; weights: number; differ: number}[];
  readonly weights: number;
  readonly differ: number;
}

export function compareLevels(a: string, b: string): LevelComparison {
  const [ca, cb] = [readCheckpoint(a), readCheckpoint(b)];
  const quant = ca.state.config.quant;
  if (quant === 'none' || quant !== cb.state.config.quant) throw new CbpError(`${a} and ${b}: need two runs of the same constraint (got ${quant}, ${cb.state.config.quant})`);
  const levels = LEVELS[quant];
  const [wa, wb] = [modelWeights(ca.tensors), modelWeights(cb.tensors)];
  const layers: LevelComparison['layers'] = [];
  for (const [key, scaleA] of wa) {
    if (!key.endsWith('.scale')) continue;
    const name = key.slice(0, -'.scale'.length);
    const [xa, xb] = [wa.get(`${name}.weight`)?.data, wb.get(`${name}.weight`)?.data];
    const scaleB = wb.get(key)?.data[0];
    if (xa === undefined || xb === undefined || scaleB === undefined || xa.length !== xb.length) throw new CbpError(`${b}: layer ${name} does not match ${a}`);
    const [ia, ib] = [levelIndices(xa, scaleA.data[0], levels).index, levelIndices(xb, scaleB, levels).index];
    let differ = 0;
    for (let i = 0; i < ia.length; i++) if (ia[i] !== ib[i]) differ++;
    layers.push({layer: name, weights: xa.length, differ});
  }
  return {layers, weights: layers.reduce((s, l) => s + l.weights, 0), differ: layers.reduce((s, l) => s + l.differ, 0)};
}

/** Upper bounds (× scale) of the distance bins of `movedFrom`; the last bin is everything farther. */
export const MOVED_BINS = [0.1, 0.25, 0.5] as const;

export interface Moved {
  readonly weights: number;
  /** Weights at another level than the float model's weight rounded with the run's scale. */
  readonly moved: number;
  /** Of those, how many started within MOVED_BINS[k]·s of a midpoint (and beyond the bin before); last: the rest. */
  readonly byDistance: readonly number[];
}

/**
 * Which weights a run moved to another level than its float starting point, and how far from a midpoint (the
 * quantizer's threshold) each of them started: weights that start near a threshold cross it where c(w) is flat (the
 * unconstrained window), so CBP's pull cannot hold them back there.
 */
export function movedFrom(floatRun: string, run: string): Moved {
  const [cf, cr] = [readCheckpoint(floatRun), readCheckpoint(run)];
  const quant = cr.state.config.quant;
  if (quant === 'none') throw new CbpError(`${run}: a float run has no levels`);
  const levels = LEVELS[quant];
  const mids = segments(levels).mids;
  const [wf, wr] = [modelWeights(cf.tensors), modelWeights(cr.tensors)];
  const byDistance = new Array<number>(MOVED_BINS.length + 1).fill(0);
  let [weights, moved] = [0, 0];
  for (const [key, scale] of wr) {
    if (!key.endsWith('.scale')) continue;
    const name = key.slice(0, -'.scale'.length);
    const [xf, xr] = [wf.get(`${name}.weight`)?.data, wr.get(`${name}.weight`)?.data];
    if (xf === undefined || xr === undefined || xf.length !== xr.length) throw new CbpError(`${floatRun}: layer ${name} does not match ${run}`);
    const s = scale.data[0];
    const [qf, qr] = [quantizeArray(xf, s, levels), quantizeArray(xr, s, levels)];
    for (let i = 0; i < xr.length; i++) {
      if (qf[i] === qr[i]) continue;
      moved++;
      const d = Math.min(...mids.map((m) => Math.abs(xf[i] - m * s))) / s;
      const bin = MOVED_BINS.findIndex((b) => d < b);
      byDistance[bin < 0 ? MOVED_BINS.length : bin]++;
    }
    weights += xr.length;
  }
  return {weights, moved, byDistance};
}

/** How close a run's latent weights sit to their levels: the quantities docs/RESULTS.md reports per run. */
export interface LatentStats {
  readonly weights: number;
  /** Latent weights exactly equal (in float32) to the level they quantize to. */
  readonly onLevel: number;
  /** Latent weights within 1% of the layer's scale from their level. */
  readonly near: number;
  /** The constraint-satisfaction measure: mean c(w) with ucs = 1. */
  readonly cfs: number;
  /** Training time: the epochs' seconds (test passes included) as the run recorded them. */
  readonly seconds: number;
}

export function latentStats(run: string): LatentStats {
  const ck = readCheckpoint(run);
  const quant = ck.state.config.quant;
  if (quant === 'none') throw new CbpError(`${run}: a float run has no levels`);
  const levels = LEVELS[quant];
  const w = modelWeights(ck.tensors);
  let [weights, onLevel, near] = [0, 0, 0];
  const layers: {weights: Float32Array; scale: number; levels: readonly number[]}[] = [];
  for (const [key, scale] of w) {
    if (!key.endsWith('.scale')) continue;
    const x = w.get(`${key.slice(0, -'.scale'.length)}.weight`)?.data;
    if (x === undefined) throw new CbpError(`${run}: no weight for ${key}`);
    const s = scale.data[0];
    const q = quantizeArray(x, s, levels);
    for (let i = 0; i < x.length; i++) {
      if (x[i] === q[i]) onLevel++;
      if (Math.abs(x[i] - q[i]) <= 0.01 * s) near++;
    }
    weights += x.length;
    layers.push({weights: x, scale: s, levels});
  }
  return {weights, onLevel, near, cfs: cfsOf(layers), seconds: ck.state.progress.reduce((a, r) => a + r.seconds, 0)};
}

if (require.main === module) {
  try {
    const args = process.argv.slice(2);
    const moved = args[0] === '--moved';
    const [a, b] = moved ? args.slice(1) : args;
    if (a === undefined || b === undefined) throw new CbpError('usage: node dist/bench/levels.js RUN_A RUN_B, or node dist/bench/levels.js --moved FLOAT RUN');
    process.stdout.write(JSON.stringify(moved ? movedFrom(a, b) : compareLevels(a, b)) + '\n');
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
}
