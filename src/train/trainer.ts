import * as fs from 'node:fs';
import {tf} from '../core/tf';
import {describeBackend, selectBackend} from '../core/backend';
import {ascendLambda, type LambdaState} from '../cbp/lambda';
import {afterEpoch, initialSchedule, type ScheduleState} from '../cbp/schedule';
import {CbpError} from '../core/errors';
import type {Tensor32, Weights} from '../core/weights';
import {WIDTH_MODELS, baseFor, checkModel, getModel, modelWidth, type ModelName, type ModelSpec, type QuantOrNone} from '../../models/index';
import type {BackendChoice} from '../core/backend-choice';
import {
  LAMBDA_M_PREFIX,
  LAMBDA_PREFIX,
  LAMBDA_V_PREFIX,
  MOMENTUM_PREFIX,
  modelWeights,
  readCheckpoint,
  type Checkpoint,
  writeCheckpoint,
  type EpochRecord,
  checkMethod,
  type TrainMethod,
  type RunConfig,
  type RunState,
} from '../run/checkpoint';
import {initialWeights} from './init';
import {trainData, type TrainData} from './sources';
import {fromTfjs} from './layout';
import {cfs, constrainedCount, levelHistograms, type LevelHistogram} from './metrics';
import {cbpStep, createTrainState, disposeTrainState} from './step';
import {Network} from './network';
import {initialScale} from '../cbp/scale';
import {defaultWorkers, ShardPool} from './shards';
import {readPth, stateDict} from '../torch/load';
import {checkInt, checkNumber} from '../core/checks';
import {checkQuant} from '../cbp/registry';
import {ensureWritableDir} from '../core/atomic';
import {specOf} from '../run/spec-of';

export interface TrainOptions {
  readonly model: ModelName;
  readonly quant: QuantOrNone;
  readonly data: string;
  /** Total epochs; on resume, the stored total when omitted. */
  readonly epochs?: number;
  readonly out: string;
  readonly init?: string;
  readonly resume?: string;
  readonly limit?: number;
  /** Channels of the first layer (alexnet, resnet*); the widths of the later layers scale with it. The model's
   * published width when omitted, or the --init checkpoint's. */
  readonly width?: number;
  /** 'cbp' (default) or 'ste' (the straight-through baseline without the constraint term). */
  readonly method?: TrainMethod;
  /** Evaluate on only this many test images (spread over the classes for folders). */
  readonly testLimit?: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly lrLambda: number;
  readonly weightDecay: number;
  readonly period: number;
  readonly backend: BackendChoice;
  /** Threads sharing each step ('auto' or a count); see defaultWorkers. */
  readonly workers?: number | string;
  readonly log?: (line: string) => void;
  readonly onStep?: (p: StepProgress) => void;
}

export interface StepProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly lagrangian: number;
  readonly cfs: number;
  readonly elapsed: number;
}

export interface TrainResult {
  readonly out: string;
  readonly model: string;
  readonly quant: QuantOrNone;
  readonly data: string;
  readonly backend: string;
  readonly epochs: readonly EpochRecord[];
  readonly top1: number;
  readonly top5: number;
  readonly cfs: number;
  readonly histograms: readonly LevelHistogram[];
  readonly seconds: number;
}

interface RunSetup {
  config: RunConfig;
  spec: ModelSpec;
  weights: Weights;
  /** Present when resuming: λ, Adam and momentum tensors, schedule and progress. */
  resumed?: {state: RunState; tensors: Map<string, Tensor32>};
}

function setup(opts: TrainOptions, ds: TrainData, ck: Checkpoint | undefined): RunSetup {
  if (opts.resume !== undefined && ck !== undefined) {
    const config = {...ck.state.config, epochs: opts.epochs === undefined ? ck.state.config.epochs : checkInt('--epochs', opts.epochs, 1)};
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

/** CBP training (or plain training with quant 'none'), one checkpoint per epoch. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const workersWanted = opts.workers === undefined || opts.workers === 'auto' ? 'auto' : checkWorkers(opts.workers);
  const backend = await selectBackend(opts.backend);
  log(describeBackend(backend));
  if (workersWanted !== 'auto' && workersWanted > 1 && backend.name === 'tensorflow') {
    throw new CbpError(`--workers ${workersWanted}: the tensorflow backend already uses every core; use --workers 1 or auto with it`);
  }
  const resumeFrom = opts.resume !== undefined ? readCheckpoint(opts.resume, '--resume') : undefined;
  const stored = resumeFrom?.state.config;
  const dataName = stored?.data ?? opts.data;
  const limit = stored ? stored.limit ?? undefined : opts.limit;
  if (limit !== undefined) checkInt('--limit', limit, 2);
  const ds = trainData(dataName, limit, (_file, why) => log(`warning: skipped ${why}`), opts.testLimit);
  const {config, spec, weights, resumed} = setup(opts, ds, resumeFrom);
  const out = opts.resume ?? opts.out;
  ensureWritableDir(out, opts.resume !== undefined ? '--resume' : '--out');
  const net = new Network(spec, config.quant, weights);
  const cbpMethod = (config.method ?? 'cbp') === 'cbp';
  const st = createTrainState(net, config.weightDecay, ds.numClasses, resumed?.tensors, cbpMethod);
  const {momentum, lambdas} = st;
  const trainable = net.infos.filter((i) => i.trainable);
  let schedule: ScheduleState = resumed?.state.schedule ?? initialSchedule();
  const progress: EpochRecord[] = [...(resumed?.state.progress ?? [])];
  const startEpoch = resumed?.state.epoch ?? 0;
  const constrainedTotal = constrainedCount(net);
  log(
    `${resumed ? 'resuming' : 'training'} ${spec.name} (${config.quant}) on ${ds.name}: ${ds.trainCount} training images, ` +
      `${ds.testCount} test images, batch ${config.batchSize}, epochs ${startEpoch + 1}..${config.epochs}, ` +
      `${constrainedTotal} constrained weights in ${net.constrained.length} layers`,
  );

  const ascend = (ucs: number, step: number): void => {
    for (const c of net.constrained) {
      ascendLambda(lambdas.get(c.node.name) as LambdaState, net.variable(c.weightKey), c.scale, c.levels, ucs, config.lrLambda, step);
    }
  };
  if (!resumed && cbpMethod && net.constrained.length > 0) {
    // The reference raises λ once before the first epoch.
    schedule = {...schedule, lambdaSteps: 1};
    ascend(schedule.ucs, 1);
  }

  const snapshot = (epoch: number): void => {
    const tensors = new Map<string, Tensor32>(net.toWeights());
    const put = (key: string, v: tf.Tensor, info: (typeof trainable)[number]): void => {
      const t = tf.tidy(() => fromTfjs(info, v));
      tensors.set(key, {shape: info.shape, data: t.dataSync() as Float32Array});
      t.dispose();
    };
    for (const i of trainable) put(MOMENTUM_PREFIX + i.key, momentum.get(i.key) as tf.Variable, i);
    for (const c of net.constrained) {
      const info = trainable.find((i) => i.key === c.weightKey) as (typeof trainable)[number];
      const l = lambdas.get(c.node.name) as LambdaState;
      put(LAMBDA_PREFIX + c.node.name, l.lambda, info);
      put(LAMBDA_M_PREFIX + c.node.name, l.m, info);
      put(LAMBDA_V_PREFIX + c.node.name, l.v, info);
    }
    const state: RunState = {format: 'cbp-checkpoint', version: 1, config, epoch, schedule, progress, backend: backend.name};
    writeCheckpoint(out, state, tensors);
  };

  const workers = workersWanted === 'auto' ? defaultWorkers(backend.name, config.batchSize) : workersWanted;
  const pool = workers > 1 ? await ShardPool.create(workers, net, backend.name, ds.numClasses) : undefined;
  log(`threads per step: ${workers}${workers > 1 ? ` (the batch is split over them, batch norm synchronised)` : ''}`);
  try {
  let lastCfs = cfs(net);
  for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
    const epochStart = Date.now();
    const steps = Math.ceil(ds.trainCount / config.batchSize);
    const lr = config.lr * schedule.lrFactor;
    let lagsum = 0;
    let losssum = 0;
    let seen = 0;
    let step = -1;
    for await (const batch of ds.trainBatches(epoch, config.batchSize, config.seed)) {
      step++;
      if (batch.count < 2) continue; // batch-norm needs two samples
      const {x, y} = batch;
      const n = batch.count;
      const r = await cbpStep(st, x, y, n, ds.shape, schedule.ucs, lr, pool);
      if (!r.finite) {
        throw new CbpError(
          `training diverged at epoch ${epoch + 1}, step ${step + 1}: loss ${r.loss}, Lagrangian ${r.lagrangian}; ` +
            `the last good checkpoint in ${out} is kept (try a lower --lr)`,
          'NON_FINITE_LOSS',
        );
      }
      const lagValue = r.lagrangian;
      const lossValue = r.loss;
      lagsum += lagValue;
      losssum += lossValue * n;
      seen += n;
      opts.onStep?.({epoch: epoch + 1, epochs: config.epochs, step: step + 1, steps, loss: lossValue, lagrangian: lagValue, cfs: lastCfs, elapsed: (Date.now() - epochStart) / 1000});
    }
    let lambdaUpdated = false;
    if (cbpMethod && net.constrained.length > 0) {
      const decision = afterEpoch(schedule, lagsum, config.period);
      schedule = decision.next;
      if (decision.updateLambda) {
        ascend(schedule.ucs, schedule.lambdaSteps);
        lambdaUpdated = true;
      }
    }
    const acc = await ds.evaluate(net);
    lastCfs = cfs(net);
    const record: EpochRecord = {
      epoch: epoch + 1,
      top1: acc.top1,
      top5: acc.top5,
      cfs: lastCfs,
      loss: losssum / Math.max(seen, 1),
      lagrangian: lagsum,
      ucs: schedule.ucs,
      lambdaMean: lambdaMean(lambdas, constrainedTotal),
      lambdaUpdated,
      lr,
      seconds: (Date.now() - epochStart) / 1000,
    };
    progress.push(record);
    snapshot(epoch + 1);
    log(
      `epoch ${record.epoch}/${config.epochs}  top1 ${(record.top1 * 100).toFixed(2)}%  top5 ${(record.top5 * 100).toFixed(2)}%  ` +
        `loss ${record.loss.toFixed(4)}  lagrangian-sum ${record.lagrangian.toFixed(3)}  cfs ${record.cfs.toExponential(3)}  ` +
        `ucs ${record.ucs.toFixed(3)}  λ-mean ${record.lambdaMean.toExponential(3)}${lambdaUpdated ? ' (λ updated)' : ''}  ${record.seconds.toFixed(1)}s`,
    );
  }
  } finally {
    await pool?.close();
  }
  if (startEpoch >= config.epochs) log(`nothing to do: ${out} already completed ${startEpoch} of ${config.epochs} epochs`);
  const final = progress.length > 0 ? progress[progress.length - 1] : undefined;
  const accNow = final ?? {...(await ds.evaluate(net)), cfs: cfs(net)};
  const histograms = levelHistograms(net);
  disposeTrainState(st);
  net.dispose();
  return {
    out,
    model: spec.name,
    quant: config.quant,
    data: ds.name,
    backend: backend.name,
    epochs: progress,
    top1: accNow.top1,
    top5: accNow.top5,
    cfs: accNow.cfs,
    histograms,
    seconds: (Date.now() - started) / 1000,
  };
}

function lambdaMean(lambdas: Map<string, LambdaState>, count: number): number {
  if (count === 0) return 0;
  let s = 0;
  for (const l of lambdas.values()) {
    const t = tf.sum(l.lambda);
    s += t.dataSync()[0];
    t.dispose();
  }
  return s / count;
}

function checkWorkers(value: number | string): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CbpError(`--workers ${value}: expected 'auto' or a whole number from 1 to 64`);
  return n;
}
