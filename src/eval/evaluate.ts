import * as fs from 'node:fs';
import {parseShard, type Shard} from '../data/imagefolder';
import {CbpError} from '../core/errors';
import {DEVICES, checkDevice} from '../core/ort';
import {defaultsOf, resolveOptions, type GivenOptions, type OptionSchema, type ResolvedOptions} from '../core/options';
import {fileKind, namedOnnx} from '../core/file-kind';
import {wrongFile} from '../core/wrong-file';
import {IsolatedSession} from './isolated';
import {openSource, type Source} from '../data/source';
import {TopK} from '../core/topk';
import {metadataOf, readOnnx} from '../../onnx/reader';
import {shardFromEnv} from './shard-env';

/** Generous for ImageNet: a ResNet-50 batch of 64 on one slow CPU core takes about a minute. */
export const DEFAULT_TIMEOUT = 600;

/**
 * The options of an evaluation that are not its model and data, one entry each (flag, help, default, check): part
 * of `cbp eval`'s schema (EVALUATE_OPTIONS), checked by resolveEvalSettings.
 */
export const EVAL_SETTINGS = {
  device: {kind: 'choice', choices: DEVICES, default: 'auto', check: checkDevice, help: 'execution provider'},
  batchSize: {kind: 'int', min: 1, default: 64, help: 'images per run'},
  limit: {kind: 'int', min: 1, help: 'evaluate only N images (spread over all classes for folders)'},
  /** K/N: evaluate every N-th image starting at the K-th, to split a run across processes; `auto`: K/N from a SLURM array or a Kubernetes Indexed Job (shard-env.ts). */
  shard: {kind: 'string', help: 'evaluate shard K of N (K/N), or auto: K/N from a SLURM array task or a Kubernetes Indexed Job with CBP_SHARD_COUNT (docs/SCALE.md)'},
  timeout: {kind: 'number', min: 0, inclusive: false, default: DEFAULT_TIMEOUT, help: 'seconds the model may take to load or to run one batch before it is stopped'},
} as const satisfies OptionSchema;

export interface EvalOptions extends GivenOptions<typeof EVAL_SETTINGS> {
  readonly onnx: string;
  readonly data: string;
  /** The environment `auto` reads (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly log?: (line: string) => void;
  readonly onBatch?: (done: number, total: number, elapsedSeconds: number) => void;
  /** Keep each image's top-1 class in the result (for comparing runtimes). */
  readonly keepPredictions?: boolean;
}

/** What an evaluation is when an option is not given: the CLI's flags show these same values as their defaults. */
export const EVAL_DEFAULTS = {data: 'mnist', ...defaultsOf(EVAL_SETTINGS)} as const;

/** The options of an evaluation that are not its model and data: checked, with EVAL_DEFAULTS where not given. */
export interface EvalSettings extends Omit<ResolvedOptions<typeof EVAL_SETTINGS>, 'shard'> {
  /** The shard given (K/N) or found by `auto`, with where `auto` found it. */
  readonly shard?: {readonly text: string; readonly shard: Shard; readonly from?: string};
}

type SettingsOptions = Partial<Pick<EvalOptions, keyof typeof EVAL_SETTINGS | 'env'>>;

/** Checks an evaluation's settings (device, batch size, limit, timeout by their entries; the shard) and fills in their defaults. */
export function resolveEvalSettings(opts: SettingsOptions): EvalSettings {
  const {shard: given, ...settings} = resolveOptions(EVAL_SETTINGS, opts);
  const auto = given === 'auto' ? shardFromEnv(opts.env ?? process.env) : undefined;
  const text = auto?.shard ?? given;
  const shard = text === undefined ? undefined : {text, shard: parseShard(text), ...(auto !== undefined ? {from: auto.from} : {})};
  return {...settings, ...(shard !== undefined ? {shard} : {})};
}

/** An ONNX file to evaluate: one that exists and is an ONNX model by its bytes (or of unknown bytes named .onnx). */
export function checkOnnxFile(file: string): string {
  if (!fs.existsSync(file)) throw new CbpError(`--onnx ${file}: no such file`, 'NO_FILE');
  refuseNonOnnx(file);
  return file;
}

export interface EvalResult {
  readonly model: string;
  readonly data: string;
  readonly top1: number;
  readonly top5: number;
  readonly images: number;
  readonly top1Hits: number;
  readonly top5Hits: number;
  /** Files that could not be decoded (named in the log), not counted in `images`. */
  readonly skipped: number;
  readonly imagesPerSecond: number;
  readonly device: 'cuda' | 'webgpu' | 'cpu';
  readonly shard?: string;
  /** Images whose logits held a NaN: counted as misses. */
  readonly nanRows?: number;
  readonly predictions?: number[];
  /** Where the data disagrees with what the model's metadata says it was trained on (see CardCheck); absent when nothing does. */
  readonly warnings?: readonly string[];
}

/**
 * A file that is no ONNX model by its bytes (a checkpoint folder, a .pth, text) is refused with what it is; one of
 * unknown bytes named .onnx is left to the reader, which says where it is damaged.
 */
function refuseNonOnnx(file: string): void {
  const k = fileKind(file);
  const onnx = k.kind === 'onnx' || k.kind === 'cbp-onnx' || k.kind === 'special' || (k.kind === 'binary' && namedOnnx(file));
  if (!onnx) throw wrongFile('eval', file, k);
}

/** What evaluation knows of its data, for comparing with a model's metadata. */
export type DataFacts = Pick<Source, 'name' | 'kind' | 'shape' | 'numClasses' | 'labels' | 'mean' | 'std'>;

/**
 * Compares a model's metadata (its model card) with the data it is about to be evaluated on and returns the
 * disagreements, each a sentence naming the file: the library's evaluate passes the model card's check.
 */
export type CardCheck = (metadata: Readonly<Record<string, string>>, data: DataFacts) => readonly string[];

/** An evaluation with its options checked (resolveEvalSettings, checkOnnxFile): nothing after this refuses an option. */
export interface ResolvedEval extends EvalSettings {
  readonly onnx: string;
  readonly data: string;
}

/** What an evaluation reports to its caller as it runs. */
export type EvalHooks = Pick<EvalOptions, 'log' | 'onBatch' | 'keepPredictions'>;

/** Top-1/top-5 of an ONNX classifier on a data set's test split or an image folder, through onnxruntime-node. */
export async function evaluateOnnx(opts: EvalOptions, check?: CardCheck): Promise<EvalResult> {
  const onnx = checkOnnxFile(opts.onnx);
  return runEvaluation({onnx, data: opts.data, ...resolveEvalSettings(opts)}, opts, check);
}

/** Evaluates with options already resolved. */
export async function runEvaluation(opts: ResolvedEval, hooks: EvalHooks, check?: CardCheck): Promise<EvalResult> {
  const log = hooks.log;
  if (opts.shard?.from !== undefined) log?.(`shard ${opts.shard.text} (${opts.shard.from})`);
  const shard = opts.shard?.shard;
  const {model, bytes} = readOnnx(opts.onnx);
  let skipped = 0;
  const dims = model.graph.input[0]?.type?.tensor_type?.shape?.dim ?? [];
  const expected = dims.slice(1).map((d) => ('dim_value' in d ? d.dim_value : -1));
  // An image folder is cropped to the model's side (a square colour input); 224 otherwise, then checked below.
  const side = expected.length === 3 && expected[0] === 3 && expected[1] === expected[2] && expected[1] >= 8 && expected[1] <= 4096 ? expected[1] : undefined;
  const source = openSource(opts.data, {need: 'test', limit: opts.limit, shard, side, onSkip: (_file, why) => {
    skipped++;
    log?.(`warning: skipped ${why}`);
  }});
  if (expected.join(',') !== source.shape.join(',')) {
    throw new CbpError(`${opts.onnx}: the model takes inputs [${expected.join(', ')}], data '${opts.data}' gives images [${source.shape.join(', ')}]`);
  }
  const classes = source.numClasses;
  // A built-in set must match exactly; an image folder may hold a subset of the model's classes (labelled in
  // sorted folder order), never more: a label past the row would read logits that do not exist.
  const fits = (outputs: number): boolean => (source.kind === 'builtin' ? outputs === classes : outputs >= classes);
  const need = source.kind === 'builtin' ? `${classes}` : `at least ${classes}`;
  const outDims = model.graph.output[0]?.type?.tensor_type?.shape?.dim ?? [];
  const declared = outDims.length === 2 && 'dim_value' in outDims[1] ? outDims[1].dim_value : undefined;
  if (declared !== undefined && !fits(declared)) {
    throw new CbpError(`${opts.onnx}: the model has ${declared} outputs per image, data '${opts.data}' has ${classes} classes (expected ${need} outputs)`, 'BAD_ONNX');
  }
  // Said before the run, not after it: a score on data the model was not trained for means little.
  const warnings = check?.(metadataOf(model), source) ?? [];
  for (const w of warnings) log?.(`warning: ${w}`);
  // The card's oldest runtime lets a load failure say whether this runtime is too old for the file.
  const session = await IsolatedSession.open(bytes, opts.device, opts.onnx, opts.timeout * 1000, metadataOf(model)['cbp.min_onnxruntime']);
  log?.(session.line);
  const topk = new TopK(hooks.keepPredictions === true);
  let done = 0;
  const started = process.hrtime.bigint();
  let inferenceNs = 0n;
  try {
    for await (const batch of source.test.batches(opts.batchSize, 'NCHW')) {
      done += opts.batchSize;
      if (batch.count === 0) continue;
      const t0 = process.hrtime.bigint();
      const logits = await session.run(batch.x, [batch.count, ...source.shape]);
      inferenceNs += process.hrtime.bigint() - t0;
      // Checked on what the model returns, not only on what it declares: a model may declare anything.
      const outputs = logits.data.length / batch.count;
      if (logits.dims.length !== 2 || logits.dims[0] !== batch.count || !Number.isInteger(outputs) || !fits(outputs)) {
        throw new CbpError(`${opts.onnx}: the model returned [${logits.dims.join(', ')}] for ${batch.count} images; data '${opts.data}' has ${classes} classes, so [${batch.count}, ${need}] was expected`, 'BAD_ONNX');
      }
      const before = topk.nanRows;
      topk.add(logits.data, batch.y, outputs);
      if (topk.nanRows > before && before === 0) log?.(`warning: ${opts.onnx} returned NaN logits; such images count as misses`);
      hooks.onBatch?.(Math.min(done, source.test.count), source.test.count, Number(process.hrtime.bigint() - started) / 1e9);
    }
  } finally {
    session.release();
  }
  const {top1, top5, images} = topk;
  if (images === 0) throw new CbpError(`--data ${opts.data}: no image could be evaluated (${skipped} skipped)`);
  return {
    model: opts.onnx,
    data: source.name,
    top1: top1 / images,
    top5: top5 / images,
    images,
    top1Hits: top1,
    top5Hits: top5,
    skipped,
    // Throughput of the runtime itself (decoding excluded), the figure a deployment cares about.
    imagesPerSecond: images / (Number(inferenceNs) / 1e9),
    device: session.device,
    ...(opts.shard !== undefined ? {shard: opts.shard.text} : {}),
    ...(topk.nanRows > 0 ? {nanRows: topk.nanRows} : {}),
    ...(hooks.keepPredictions === true ? {predictions: topk.predictions} : {}),
    ...(warnings.length > 0 ? {warnings} : {}),
  };
}
