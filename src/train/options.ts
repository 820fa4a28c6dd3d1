import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {defaultsOf, resolveOptions, usageChoices, type GivenOptions, type OptionSchema} from '../core/options';
import {BACKEND_CHOICES, checkBackend} from '../core/backend-choice';
import {DEVICES, checkDevice} from '../core/ort';
import {MODEL_NAMES, WIDTH_MODELS, checkModel, getModel, isModelName, modelWidth, type ModelName, type ModelSpec, type QuantOrNone} from '../../models/index';
import {TRAIN_METHODS, checkMethod, type Checkpoint, type RunConfig} from '../run/checkpoint';
import {heldRun, type HeldRun} from '../run/run-folder';
import {specOf} from '../run/spec-of';
import {QUANT_OR_NONE, checkQuant, constraintHelp} from '../cbp/registry';
import {DATASET_NAMES} from '../data/index';
import type {Source} from '../data/source';
import {ENGINES, checkEngine, checkWorkers, resolveEngine, type EngineEntry, type EngineName} from './registry';
import type {EngineSettings} from './engine';
import {initSource, type InitSource, type Resumed} from './setup';

/** A run's epochs when none are given (a resumed run keeps its own). */
const EPOCHS = 3;
/** The architecture when none is given and no --init run carries one. */
const MODEL: ModelName = 'lenet5';

/**
 * `cbp train`'s options, one entry each: the flag (the key in kebab-case), its help, default and check. The flags of
 * `cbp train` are built from it, TrainOptions is typed by it and resolveTrainOptions checks each value by it first.
 */
export const TRAIN_OPTIONS = {
  model: {kind: 'choice', choices: MODEL_NAMES, check: checkModel, help: `architecture [default: ${MODEL}, or the architecture an --init run imported from ONNX carries]`},
  quant: {kind: 'choice', choices: QUANT_OR_NONE, default: 'bin', check: checkQuant, listChoices: false, help: `weight constraint: none (full precision) or ${constraintHelp()}`},
  data: {kind: 'string', default: 'mnist', helpValue: usageChoices([...DATASET_NAMES, 'FOLDER']), help: `data set (${DATASET_NAMES.join(', ')}) or an ImageNet-style folder with train/ and val/`},
  epochs: {kind: 'int', min: 1, help: `total epochs of the run [default: ${EPOCHS}; with --resume: as stored]`},
  init: {kind: 'path', help: 'start from these weights: a cbp checkpoint folder (e.g. a float run; its scales are kept for the same --quant) or a PyTorch .pth (scales reset to mean |w| of its weights, as the reference does)'},
  resume: {kind: 'path', help: 'continue the run in this checkpoint folder from its last completed epoch'},
  out: {kind: 'path', help: 'checkpoint folder [default: runs/MODEL-QUANT-DATA, DATA the data set or the image folder\'s name]'},
  force: {kind: 'boolean', help: 'replace the run --out already holds: its checkpoint, progress.tsv, plots and the ONNX files cbp exported there are removed first (other files stay)'},
  width: {kind: 'int', min: 1, max: 4096, help: 'channels of the first layer of alexnet/resnet* (later layers scale with it) [default: the published width, or --init\'s]'},
  limit: {kind: 'int', min: 2, help: 'train on only N training images (the first N; spread over the classes for folders)'},
  testLimit: {kind: 'int', min: 1, help: 'evaluate each epoch on only N test images (recorded with the run and in its model card)'},
  seed: {kind: 'int', min: 0, max: 0xffffffff, default: 1, help: 'seed of initial weights and shuffling'},
  batchSize: {kind: 'int', min: 2, default: 256, help: 'images per step'},
  lr: {kind: 'number', min: 0, inclusive: false, default: 1e-3, help: 'learning rate of the weights (SGD, momentum 0.9)'},
  lrDrops: {kind: 'string', help: 'full-precision runs (--quant none): epochs after which the learning rate drops ×0.1, e.g. 15,25 [default: none, a constant rate; constrained runs follow CBP\'s schedule]'},
  lrLambda: {kind: 'number', min: 0, inclusive: true, default: 1e-4, help: 'learning rate of the Lagrange multipliers (Adam ascent)'},
  weightDecay: {kind: 'number', min: 0, inclusive: true, default: 1e-4, help: 'L2 penalty on conv/dense weights'},
  period: {kind: 'int', min: 1, default: 20, help: 'update λ at least every this many epochs'},
  engine: {
    kind: 'choice', choices: ENGINES, default: 'auto', check: checkEngine,
    help: 'training engine: auto picks onnxruntime on the CPU, tfjs when a tfjs --backend or --workers count is given or tfjs-node-gpu is installed',
  },
  device: {kind: 'choice', choices: DEVICES, default: 'auto', check: checkDevice, help: 'execution provider of the onnxruntime engine'},
  backend: {kind: 'choice', choices: BACKEND_CHOICES, default: 'auto', check: checkBackend, help: 'tfjs backend (tfjs engine)'},
  workers: {kind: 'string', default: 'auto', check: checkWorkersText, help: 'threads sharing each step: auto (wasm/cpu: one per core, at most 4; native TensorFlow: 1) or a count'},
  method: {
    kind: 'choice', choices: TRAIN_METHODS, default: 'cbp', check: checkMethod,
    help: 'cbp, or ste: the same quantized training without the constraint term (a baseline; its learning rate follows the same schedule, dropping ×0.1 where CBP\'s would)',
  },
  plot: {kind: 'boolean', default: true, allowNo: true, help: 'draw curves.png and weights.png into the run folder at the end'},
} as const satisfies OptionSchema;

/** `--workers`: auto or a count (checkWorkers), as given. */
function checkWorkersText(value: string): string {
  if (value !== 'auto') checkWorkers(value);
  return value;
}

/** What a run is when an option is not given: the CLI's flags show these same values as their defaults. */
export const TRAIN_DEFAULTS = {model: MODEL, ...defaultsOf(TRAIN_OPTIONS), epochs: EPOCHS} as const;

/**
 * The run folder a run writes when no `out` is given: runs/MODEL-QUANT-DATA, where DATA is a data set's name or an
 * image folder's own name (its last path part, not the whole path).
 */
export function defaultRunFolder(model: string, quant: string, data: string): string {
  const name = path.basename(path.resolve(data)).replace(/[^A-Za-z0-9._-]+/g, '_') || 'data';
  return path.join('runs', `${model}-${quant}-${name}`);
}

/**
 * A run's options (TRAIN_OPTIONS); every one has a default (TRAIN_DEFAULTS, defaultRunFolder), as on the command
 * line. A resumed run keeps the values it was started with: `epochs` (its stored total when omitted) and `lrDrops`
 * may be given again; `out` is --resume's folder.
 */
export interface TrainOptions extends Omit<GivenOptions<typeof TRAIN_OPTIONS>, 'lrDrops' | 'workers'> {
  /** Full-precision runs: epochs after which the learning rate drops ×0.1 (a list, or '15,25'). */
  readonly lrDrops?: string | readonly number[];
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

/**
 * Everything a run is, decided once from the options and the stored run: nothing after this refuses an option's
 * value or a combination of options. What only the machine or the files can tell is found as the run starts: whether
 * the backend or device starts, whether --init's tensors fit the model, whether --out can be written, and whether
 * the backend --backend auto finds is tensorflow, which takes no --workers N.
 */
export interface ResolvedRun {
  readonly config: RunConfig;
  readonly spec: ModelSpec;
  readonly source: Source;
  readonly engine: {readonly name: EngineName; readonly why: string; readonly entry: EngineEntry<EngineName>};
  readonly settings: EngineSettings;
  readonly out: string;
  readonly initSource?: InitSource;
  readonly resumed?: Resumed;
  /** The run `out` holds, which `force` replaces: the trainer clears it once the engine has started. */
  readonly replaces?: HeldRun;
}

/** The image limits a run opens its data with, as its config records them. */
export interface DataLimits {
  readonly limit?: number;
  readonly testLimit?: number;
}

type OpenData = (data: string, limits: DataLimits, side: number | undefined) => Source;

/**
 * The one place where `cbp train`'s options (or a library caller's) meet the stored run: every option is checked
 * and every bad combination refused here, before anything is trained or written. `open` opens the data with the
 * run's image limits (a resumed run keeps its own).
 */
export function resolveTrainOptions(given: TrainOptions, ck: Checkpoint | undefined, open: OpenData): ResolvedRun {
  const run = resolveRun(given, ck, open);
  // An engine that lacks a kind of the model (the TensorFlow.js engine: tfjsGaps) refuses it now, before a folder is made.
  const refusal = run.engine.entry.supports(run.spec, true);
  if (refusal !== undefined) throw new CbpError(refusal, 'FLAG_CONFLICT');
  return run.resumed !== undefined ? run : replacing(run, given);
}

/**
 * A new run's folder, checked last so that a bad option is named first: one that holds a run is refused unless
 * `force` replaces it (the trainer clears it once the engine has started).
 */
function replacing(run: ResolvedRun, given: TrainOptions): ResolvedRun {
  const held = heldRun(run.out);
  if (held === undefined) return run;
  if (given.force !== true) throw new CbpError(occupied(run.out, given.out !== undefined, held), 'RUN_EXISTS');
  if (given.init !== undefined && path.resolve(given.init) === path.resolve(run.out)) {
    throw new CbpError(`--init ${given.init}: the run --force would replace; the new run starts from its weights, so write it to another --out`, 'FLAG_CONFLICT');
  }
  return {...run, replaces: held};
}

function resolveRun(given: TrainOptions, ck: Checkpoint | undefined, open: OpenData): ResolvedRun {
  const log = given.log ?? (() => undefined);
  const opts = withDefaults(given);
  // Each option's own value first (choices, ranges: withDefaults), once, before the --init weights or the data are read.
  const workers = opts.workers === 'auto' ? 'auto' : checkWorkers(opts.workers);
  if (opts.resume !== undefined && opts.force === true) throw new CbpError(`--force: replaces the run an --out folder holds; --resume ${opts.resume} continues its run in place, leave --force out`, 'FLAG_CONFLICT');
  const limits = opts.resume !== undefined && ck !== undefined ? storedLimits(ck.state.config, opts, opts.resume) : givenLimits(opts);
  const epochs = opts.epochs;
  // A resumed run keeps the values it was started with; a new run's are checked here.
  const run = opts.resume !== undefined && ck !== undefined ? {resuming: true as const, dir: opts.resume, ck} : {resuming: false as const, fresh: freshValues(opts, epochs)};
  const settings: EngineSettings = {
    backend: opts.backend,
    workers,
    device: opts.device,
    batchSize: run.resuming ? run.ck.state.config.batchSize : run.fresh.batchSize,
    log,
  };
  const engine = resolveEngine(opts.engine, settings);
  engine.entry.check?.(settings);
  // A run that carries its architecture (an imported model) takes image folders at its own input side.
  const init = !run.resuming && opts.init !== undefined ? initSource(opts.init, run.fresh.model) : undefined;
  const carriedShape = (run.resuming ? run.ck.state.config.spec : init?.spec)?.inputShape;
  const side = carriedShape !== undefined && carriedShape[0] === 3 && carriedShape[1] === carriedShape[2] ? carriedShape[1] : undefined;
  const source = open(run.resuming ? run.ck.state.config.data : opts.data, limits, side);
  if (run.resuming) return resumedRun(run.ck, run.dir, opts, epochs, {source, engine, settings});
  const {fresh} = run;
  const {model, quant} = fresh;
  // Starting from another checkpoint keeps its width (imported models may be narrower than published ones), and
  // a run that carries its own architecture (an imported ONNX model) gives it: then only a --model given is checked.
  const carried = init?.spec !== undefined ? carriedSpec(init.spec, given, opts.data, source) : undefined;
  const name = carried?.name ?? model;
  let config: RunConfig = {
    model: name,
    quant,
    data: source.name,
    numClasses: source.numClasses,
    inputShape: source.shape,
    seed: fresh.seed,
    batchSize: fresh.batchSize,
    lr: fresh.lr,
    lrLambda: fresh.lrLambda,
    weightDecay: fresh.weightDecay,
    period: fresh.period,
    limit: limits.limit ?? null,
    ...(limits.testLimit !== undefined ? {testLimit: limits.testLimit} : {}),
    epochs: fresh.epochs,
    init: opts.init ?? null,
    method: fresh.method,
    ...(fresh.lrDrops !== undefined ? {lrDrops: fresh.lrDrops} : {}),
  };
  const out = opts.out ?? defaultRunFolder(name, quant, opts.data);
  const started = {out, ...(init !== undefined ? {initSource: init} : {})};
  if (carried !== undefined) {
    config = {...config, inputShape: carried.inputShape, spec: carried};
    return {config, spec: carried, source, engine, settings, ...started};
  }
  let base = init?.base;
  if (opts.width !== undefined) {
    if (!WIDTH_MODELS.includes(model)) throw new CbpError(`--width ${opts.width}: ${model} has a fixed width; --width applies to ${WIDTH_MODELS.join(', ')}`, 'FLAG_CONFLICT');
    const width = opts.width;
    if (opts.init !== undefined && width !== modelWidth(model, init?.base)) {
      throw new CbpError(`--width ${width}: the --init weights ${opts.init} have width ${init?.base ?? 'as published'}; leave --width out to keep it`, 'FLAG_CONFLICT');
    }
    base = width;
  }
  if (base !== undefined) config = {...config, base};
  return {config, spec: getModel(model, source.numClasses, source.shape, base), source, engine, settings, ...started};
}

type Defaulted = ReturnType<typeof withDefaults>;

/** A new run's own options, checked (a resumed run has them from its stored config). */
function freshValues(opts: Defaulted, epochs: number | undefined) {
  const {quant, model, seed, batchSize, lr, lrLambda, weightDecay, period, method} = opts;
  const values = {quant, model, seed, batchSize, lr, lrLambda, weightDecay, period, epochs: epochs ?? TRAIN_DEFAULTS.epochs, method};
  return {...values, lrDrops: opts.lrDrops !== undefined ? checkLrDrops(opts.lrDrops, quant, values.epochs) : undefined};
}

/** A resumed run: its stored config, with the epochs (and learning-rate drops) given now, checked against it. */
function resumedRun(ck: Checkpoint, dir: string, opts: Defaulted, epochs: number | undefined, run: Pick<ResolvedRun, 'source' | 'engine' | 'settings'>): ResolvedRun {
  const stored = ck.state.config;
  let config: RunConfig = {...stored, epochs: epochs ?? stored.epochs};
  if (config.epochs < ck.state.epoch) {
    throw new CbpError(`--epochs ${config.epochs}: the run in ${dir} has already trained ${ck.state.epoch} epochs; give more than ${ck.state.epoch} to train it further`, 'FLAG_CONFLICT');
  }
  // A resumed run may be given (or change) its learning-rate drops: those already passed are history.
  if (opts.lrDrops !== undefined) config = {...config, lrDrops: checkLrDrops(opts.lrDrops, config.quant, config.epochs)};
  if (config.data !== run.source.name) throw new CbpError(`--resume ${dir}: the run trained on '${config.data}', not '${run.source.name}'`, 'FLAG_CONFLICT');
  if (opts.width !== undefined && config.spec !== undefined) throw new CbpError(`--width ${opts.width}: the run in ${dir} is an imported model of fixed width; leave --width out`, 'FLAG_CONFLICT');
  // The stored run names a registered model unless it carries its spec (checked when the run state was read).
  if (opts.width !== undefined && isModelName(config.model) && opts.width !== modelWidth(config.model, config.base)) {
    throw new CbpError(`--width ${opts.width}: the run in ${dir} has width ${config.base ?? 'as published'}; a resumed run keeps its width`, 'FLAG_CONFLICT');
  }
  return {config, spec: specOf(config, run.source.shape), ...run, out: dir, resumed: {state: ck.state, tensors: ck.tensors}};
}

/** A new run's image limits (checked by their entries). */
function givenLimits(opts: TrainOptions): DataLimits {
  return {
    ...(opts.limit !== undefined ? {limit: opts.limit} : {}),
    ...(opts.testLimit !== undefined ? {testLimit: opts.testLimit} : {}),
  };
}

/**
 * A resumed run's image limits: its own. A limit given again must be the same, since records measured on other
 * images would not compare; a checkpoint from before test limits were kept evaluated on every test image.
 */
function storedLimits(stored: RunConfig, opts: TrainOptions, dir: string): DataLimits {
  const limits: DataLimits = {...(stored.limit !== null ? {limit: stored.limit} : {}), ...(stored.testLimit !== undefined ? {testLimit: stored.testLimit} : {})};
  const check = (flag: string, given: number | undefined, kept: number | undefined, images: string): void => {
    if (given === undefined || given === kept) return;
    const has = kept === undefined ? `uses every ${images} image` : `uses ${kept} ${images} images (its ${flag})`;
    throw new CbpError(`${flag} ${given}: the run in ${dir} ${has}; a resumed run keeps its limits, leave ${flag} out`, 'FLAG_CONFLICT');
  };
  check('--limit', opts.limit, limits.limit, 'training');
  check('--test-limit', opts.testLimit, limits.testLimit, 'test');
  return limits;
}

/** The refusal of an `out` that holds a run, with the two ways on: continue it, or replace it. */
function occupied(out: string, given: boolean, held: HeldRun): string {
  const where = given ? `--out ${out}` : `${out} (the default --out)`;
  const finished = held.epoch !== undefined && held.epochs !== undefined && held.epoch >= held.epochs;
  const resume = finished ? `--resume ${out} with --epochs above ${held.epochs} to train it further` : `--resume ${out} to continue it`;
  return `${where}: holds a run (${held.summary}); use ${resume}, or --force to replace it${given ? '' : ', or --out to write elsewhere'}`;
}

/**
 * The architecture an --init run carries (an imported ONNX model), checked against the other options: a --model
 * given must be the same network, --width does not apply, and the data must have the model's input shape and classes.
 */
function carriedSpec(spec: ModelSpec, given: TrainOptions, data: string, source: Source): ModelSpec {
  const init = given.init ?? '';
  if (given.model !== undefined) {
    const named = getModel(given.model, spec.numClasses, spec.inputShape);
    if (JSON.stringify(named.nodes) !== JSON.stringify(spec.nodes) || named.output !== spec.output) {
      throw new CbpError(`--model ${given.model}: the --init run ${init} carries its own architecture ('${spec.name}', imported from an ONNX file), which is not ${given.model}; leave --model out to train it`, 'FLAG_CONFLICT');
    }
  }
  if (given.width !== undefined) throw new CbpError(`--width ${given.width}: the --init run ${init} carries its own architecture ('${spec.name}') of fixed width; leave --width out`, 'FLAG_CONFLICT');
  if (source.shape.join(',') !== spec.inputShape.join(',') || source.numClasses !== spec.numClasses) {
    throw new CbpError(
      `--data ${data}: ${source.shape.join('×')} images in ${source.numClasses} classes, but '${spec.name}' (--init ${init}) takes ${spec.inputShape.join('×')} images and has ${spec.numClasses} classes`,
      'FLAG_CONFLICT',
    );
  }
  return spec;
}

/**
 * The options, each value checked by its TRAIN_OPTIONS entry (choices, ranges, integers), with TRAIN_DEFAULTS where
 * a value is not given; `lrDrops` (checked against the quantization and epochs) and `given`'s presence of each
 * option are left to the checks between options.
 */
function withDefaults(given: TrainOptions) {
  const {lrDrops, workers, ...rest} = given;
  const o = resolveOptions(TRAIN_OPTIONS, {...rest, workers: typeof workers === 'number' ? String(workers) : workers});
  return {...given, ...o, model: o.model ?? TRAIN_DEFAULTS.model, workers: workers ?? o.workers, ...(lrDrops !== undefined ? {lrDrops} : {})};
}

/**
 * `--lr-drops`: increasing epochs (a comma-separated list or numbers) after which a full-precision run's learning
 * rate drops ×0.1, each before the run's last epoch. Constrained runs follow CBP's schedule, which drops the rate
 * itself (at g = 20): a second schedule would make CBP and STE runs incomparable, so it is refused for them.
 */
export function checkLrDrops(value: string | readonly number[], quant: QuantOrNone, epochs: number): number[] {
  const flag = '--lr-drops';
  if (quant !== 'none') throw new CbpError(`${flag} ${String(value)}: a schedule for full-precision runs (--quant none); a ${quant} run's learning rate follows CBP's schedule (×0.1 when g reaches 20, see --period)`, 'FLAG_CONFLICT');
  const parts = typeof value === 'string' ? value.split(',').map((p) => p.trim()) : value.map(String);
  const drops = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new CbpError(`${flag} ${String(value)}: '${p}' is not an epoch; expected whole numbers separated by commas, e.g. 15,25`, 'BAD_FLAG');
    return Number(p);
  });
  drops.forEach((d, i) => {
    if (d < 1 || d >= epochs) throw new CbpError(`${flag} ${String(value)}: epoch ${d} is outside 1..${epochs - 1} (the rate drops after an epoch and before the last of --epochs ${epochs})`, 'BAD_FLAG');
    if (i > 0 && d <= drops[i - 1]) throw new CbpError(`${flag} ${String(value)}: epochs must increase (${drops[i - 1]} then ${d})`, 'BAD_FLAG');
  });
  return drops;
}
