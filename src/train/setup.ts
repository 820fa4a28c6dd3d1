import * as fs from 'node:fs';
import {CbpError} from '../core/errors';
import type {Tensor32, Weights} from '../core/weights';
import {WIDTH_MODELS, baseFor, checkModel, getModel, modelWidth, type ModelName, type ModelSpec, type QuantOrNone} from '../../models/index';
import {checkMethod, modelWeights, readCheckpoint, type Checkpoint, type RunConfig, type RunState} from '../run/checkpoint';
import {specOf} from '../run/spec-of';
import {checkInt, checkNumber} from '../core/checks';
import {checkQuant} from '../cbp/registry';
import {initialScale} from '../cbp/scale';
import {readPth, stateDict} from '../torch/load';
import {initialWeights} from './init';

import type {TrainOptions} from './trainer';

/** A run's configuration, architecture and starting weights: a new run from the options, or a resumed one. */
export interface RunSetup {
  config: RunConfig;
  spec: ModelSpec;
  weights: Weights;
  /** Present when resuming: λ, Adam and momentum tensors, schedule and progress. */
  resumed?: {state: RunState; tensors: Map<string, Tensor32>};
}

/** What setup needs to know of the data: its name, classes and image shape. */
export interface DataFacts {
  readonly name: string;
  readonly numClasses: number;
  readonly shape: readonly [number, number, number];
}

export function setup(opts: TrainOptions, ds: DataFacts, ck: Checkpoint | undefined): RunSetup {
  if (opts.resume !== undefined && ck !== undefined) {
    let config: RunConfig = {...ck.state.config, epochs: opts.epochs === undefined ? ck.state.config.epochs : checkInt('--epochs', opts.epochs, 1)};
    // A resumed run may be given (or change) its learning-rate drops: those already passed are history.
    if (opts.lrDrops !== undefined) config = {...config, lrDrops: checkLrDrops(opts.lrDrops, config.quant, config.epochs)};
    if (config.data !== ds.name) throw new CbpError(`--resume ${opts.resume}: the run trained on '${config.data}', not '${ds.name}'`);
    if (opts.width !== undefined && opts.width !== modelWidth(checkModel(config.model), config.base)) {
      throw new CbpError(`--width ${opts.width}: the run in ${opts.resume} has width ${config.base ?? 'as published'}; a resumed run keeps its width`);
    }
    const spec = specOf(config, ds.shape);
    return {config, spec, weights: modelWeights(ck.tensors), resumed: {state: ck.state, tensors: ck.tensors}};
  }
  const model = checkModel(opts.model);
  const quant = checkQuant(opts.quant);
  let config: RunConfig = {
    model,
    quant,
    data: ds.name,
    numClasses: ds.numClasses,
    seed: checkInt('--seed', opts.seed, 0, 0xffffffff),
    batchSize: checkInt('--batch-size', opts.batchSize, 2),
    lr: checkNumber('--lr', opts.lr, 0, false),
    lrLambda: checkNumber('--lr-lambda', opts.lrLambda, 0, true),
    weightDecay: checkNumber('--weight-decay', opts.weightDecay, 0, true),
    period: checkInt('--period', opts.period, 1),
    limit: opts.limit === undefined ? null : checkInt('--limit', opts.limit, 2),
    epochs: checkInt('--epochs', opts.epochs ?? 3, 1),
    init: opts.init ?? null,
    method: checkMethod(opts.method ?? 'cbp'),
  };
  if (opts.lrDrops !== undefined) config = {...config, lrDrops: checkLrDrops(opts.lrDrops, quant, config.epochs)};
  // Starting from another checkpoint keeps its width (imported models may be narrower than published ones).
  const source = opts.init !== undefined ? initSource(opts.init, model) : undefined;
  let base = source?.base;
  if (opts.width !== undefined) {
    if (!WIDTH_MODELS.includes(model)) throw new CbpError(`--width ${opts.width}: ${model} has a fixed width; --width applies to ${WIDTH_MODELS.join(', ')}`);
    const width = checkInt('--width', opts.width, 1, 4096);
    if (opts.init !== undefined && width !== modelWidth(model, source?.base)) {
      throw new CbpError(`--width ${width}: the --init weights ${opts.init} have width ${source?.base ?? 'as published'}; leave --width out to keep it`);
    }
    base = width;
  }
  const spec = getModel(model, ds.numClasses, ds.shape, base);
  if (base !== undefined) config = {...config, base};
  let weights = initialWeights(spec, quant, config.seed);
  if (source !== undefined) weights = initFrom(source, spec, quant, weights);
  return {config, spec, weights};
}


/** Starting weights from another checkpoint, matched by name and shape; its scales are kept only for the same constraint. */
interface InitSource {
  readonly path: string;
  readonly weights: Weights;
  /** Model and constraint of a cbp checkpoint; unknown for a PyTorch file. */
  readonly model?: string;
  readonly quant?: QuantOrNone;
  readonly base?: number;
}

/** Starting weights: a cbp checkpoint folder, or a PyTorch .pth file (read through the safe importer). */
function initSource(p: string, model: ModelName): InitSource {
  if (fs.existsSync(p) && fs.statSync(p).isFile()) {
    const weights = stateDict(readPth(p));
    const stem = [...weights.entries()].find(([k, v]) => k.endsWith('.weight') && v.shape.length === 4);
    return {path: p, weights, base: baseFor(model, stem?.[1].shape[0])};
  }
  const ck = readCheckpoint(p, '--init');
  return {path: p, weights: modelWeights(ck.tensors), model: ck.state.config.model, quant: ck.state.config.quant, base: ck.state.config.base};
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
    out.set(key, kept ?? {shape: [1], data: Float32Array.of(initialScale(w?.data ?? new Float32Array(0)))});
  }
  return out;
}


/**
 * `--lr-drops`: increasing epochs (a comma-separated list or numbers) after which a full-precision run's learning
 * rate drops ×0.1, each before the run's last epoch. Constrained runs follow CBP's schedule, which drops the rate
 * itself (at g = 20): a second schedule would make CBP and STE runs incomparable, so it is refused for them.
 */
export function checkLrDrops(value: string | readonly number[], quant: QuantOrNone, epochs: number): number[] {
  const flag = '--lr-drops';
  if (quant !== 'none') throw new CbpError(`${flag} ${String(value)}: a schedule for full-precision runs (--quant none); a ${quant} run's learning rate follows CBP's schedule (×0.1 when g reaches 20, see --period)`);
  const parts = typeof value === 'string' ? value.split(',').map((p) => p.trim()) : value.map(String);
  const drops = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new CbpError(`${flag} ${String(value)}: '${p}' is not an epoch; expected whole numbers separated by commas, e.g. 15,25`);
    return Number(p);
  });
  drops.forEach((d, i) => {
    if (d < 1 || d >= epochs) throw new CbpError(`${flag} ${String(value)}: epoch ${d} is outside 1..${epochs - 1} (the rate drops after an epoch and before the last of --epochs ${epochs})`);
    if (i > 0 && d <= drops[i - 1]) throw new CbpError(`${flag} ${String(value)}: epochs must increase (${drops[i - 1]} then ${d})`);
  });
  return drops;
}

export function checkWorkers(value: number | string): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CbpError(`--workers ${value}: expected 'auto' or a whole number from 1 to 64`);
  return n;
}

