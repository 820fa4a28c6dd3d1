import * as fs from 'node:fs';
import {CbpError} from '../core/errors';
import type {Tensor32, Weights} from '../core/weights';
import {baseOfStateDict, type ModelName, type ModelSpec, type QuantOrNone} from '../../models/index';
import {modelWeights, readCheckpoint, type RunConfig, type RunState} from '../run/checkpoint';
import {initialScale} from '../cbp/scale';
import {readPth, stateDict} from '../torch/load';
import {initialWeights} from './init';

/** A resumed run's stored state and tensors (λ, Adam and momentum). */
export interface Resumed {
  readonly state: RunState;
  readonly tensors: Map<string, Tensor32>;
}

/** A run's starting weights (src/train/options.ts resolved the run): fresh, from --init, or the resumed run's. */
export function startingWeights(r: {spec: ModelSpec; config: RunConfig; initSource?: InitSource; resumed?: Resumed}): Weights {
  if (r.resumed !== undefined) return modelWeights(r.resumed.tensors);
  const weights = initialWeights(r.spec, r.config.quant, r.config.seed);
  return r.initSource !== undefined ? initFrom(r.initSource, r.spec, r.config.quant, weights) : weights;
}

/** Starting weights from another checkpoint, matched by name and shape; its scales are kept only for the same constraint. */
export interface InitSource {
  readonly path: string;
  readonly weights: Weights;
  /** Model and constraint of a cbp checkpoint; unknown for a PyTorch file. */
  readonly model?: string;
  readonly quant?: QuantOrNone;
  readonly base?: number;
  /** The architecture a cbp checkpoint carries (an imported ONNX model): the run trains it. */
  readonly spec?: ModelSpec;
}

/** Starting weights: a cbp checkpoint folder, or a PyTorch .pth file (read through the safe importer). */
export function initSource(p: string, model: ModelName): InitSource {
  if (fs.existsSync(p) && fs.statSync(p).isFile()) {
    const weights = stateDict(readPth(p));
    return {path: p, weights, base: baseOfStateDict(model, weights)};
  }
  const ck = readCheckpoint(p, '--init');
  const {config} = ck.state;
  return {path: p, weights: modelWeights(ck.tensors), model: config.model, quant: config.quant, base: config.base, ...(config.spec !== undefined ? {spec: config.spec} : {})};
}

/**
 * Starting weights matched by name and shape. Scales are kept from a cbp run of the same constraint; otherwise,
 * and always for a .pth, they are mean |w| of the starting weights, as the reference's main.py sets them.
 */
function initFrom(src: InitSource, spec: ModelSpec, quant: QuantOrNone, fresh: Weights): Weights {
  const dir = src.path;
  const given = src.weights;
  const sameConstraint = src.quant === undefined || src.quant === quant;
  const out: Weights = new Map();
  for (const [key, t] of fresh) {
    if (key.endsWith('.scale')) continue;
    const g = given.get(key);
    if (g === undefined) throw new CbpError(`--init ${dir}: ${src.model ? `checkpoint (model ${src.model})` : 'the .pth state dict'} has no '${key}' needed by model ${spec.name}`);
    if (g.shape.join(',') !== t.shape.join(',')) {
      throw new CbpError(`--init ${dir}: '${key}' has shape [${g.shape.join(', ')}], model ${spec.name} expects [${t.shape.join(', ')}]`);
    }
    out.set(key, g);
  }
  for (const key of fresh.keys()) {
    if (!key.endsWith('.scale')) continue;
    // A cbp run of the same constraint keeps its scales; otherwise (another constraint, or any .pth, as the
    // reference's main.py does after loading) CBP sets them to mean |w| of the starting weights.
    const kept = sameConstraint && src.model !== undefined ? given.get(key) : undefined;
    const w = out.get(key.replace(/\.scale$/, '.weight'));
    out.set(key, kept ?? {shape: [1], data: Float32Array.of(initialScale(w?.data ?? []))});
  }
  return out;
}

