/**
 * How many constrained weights sit at a different level in two runs of the same model and constraint:
 * node dist/bench/levels.js RUN_A RUN_B. Prints {layers: [{layer, weights, differ}], weights, differ}. The study
 * uses it to say whether CBP and STE trained different quantized networks or the same one.
 */
import {readCheckpoint, modelWeights} from '../src/run/checkpoint';
import {LEVELS, levelIndices, quantizeArray} from '../src/cbp/levels';
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
    const [a, b] = process.argv.slice(2);
    if (a === undefined || b === undefined) throw new CbpError('usage: node dist/bench/levels.js RUN_A RUN_B');
    process.stdout.write(JSON.stringify(compareLevels(a, b)) + '\n');
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
}
