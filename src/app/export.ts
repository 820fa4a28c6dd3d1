import * as fs from 'node:fs';
import * as path from 'node:path';
import {isDatasetName} from '../data/index';
import {openSource} from '../data/source';
import {checkLabels, readLabels} from '../data/labels';
import {sameShape, type Weights} from '../core/weights';
import {asStored, LEVELS} from '../cbp/levels';
import type {QuantOrNone} from '../../models/index';
import {engineEntry} from '../train/registry';
import type {EngineEntry, ReferenceForward} from '../train/engine';
import {dataOf, describeWith, type ModelCard, cardOf} from './card';
import {specOf} from '../run/spec-of';
import {Rng} from '../core/rng';
import {CbpError, errorMessage} from '../core/errors';
import {checkChoice} from '../core/checks';
import {BACKEND_CHOICES, checkBackend} from '../core/backend-choice';
import {defaultsOf, resolveOptions, type GivenOptions, type OptionSchema, type ResolvedOptions} from '../core/options';
import {openSession, runBatch} from '../core/ort';
import {readCheckpoint, modelWeights} from '../run/checkpoint';
import {writeFileAtomic} from '../core/atomic';
import {WEIGHT_FORMATS, described, encodeModel, onnxModel, writeOnnx, type LayerExport, type OnnxExport, type WeightFormat, type Written} from '../../onnx/writer';
import {STORAGE, newerRuntime} from '../../onnx/codes';
import {CONSTRAINTS, QUANTS} from '../cbp/registry';
import {CALIBRATION_METHODS, DEFAULT_CALIBRATION, INT8_ACTIVATIONS_RUNTIME, PERCENTILE, type ActivationFacts, type CalibrationMethod} from '../../onnx/int8';
import {CALIBRATION_IMAGES, int8Model} from './int8';

export const EXPORT_FORMATS = ['onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const ACTIVATION_TYPES = ['float', 'int8'] as const;
export type ActivationType = (typeof ACTIVATION_TYPES)[number];

export function checkExportFormat(value: string, flag = '--format'): ExportFormat {
  return checkChoice(flag, value, EXPORT_FORMATS, 'format');
}

export function checkWeightFormat(value: string, flag = '--weights'): WeightFormat {
  return checkChoice(flag, value, WEIGHT_FORMATS, 'weight storage');
}

export function checkActivations(value: string, flag = '--activations'): ActivationType {
  return checkChoice(flag, value, ACTIVATION_TYPES, 'activation type');
}

export function checkCalibration(value: string, flag = '--calibration'): CalibrationMethod {
  return checkChoice(flag, value, CALIBRATION_METHODS, 'calibration method');
}

/** A file to write, in a folder that exists. */
function checkOut(file: string, flag: string): string {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new CbpError(`${flag} ${file}: folder ${dir} does not exist`, 'NO_FILE');
  return file;
}

/** Test images checked by default: enough to cover every class of the built-in sets many times. */
const VERIFY_IMAGES = 256;
/** Seeded random inputs an export is checked on where the run has no built-in set of its input shape. */
const VERIFY_INPUTS = 4;

/**
 * `cbp export`'s options, one entry each: the flag (the key in kebab-case), its help, default and check. The flags
 * of `cbp export` are built from it, ExportOptions is typed by it and resolveExportOptions checks each value by it.
 */
export const EXPORT_OPTIONS = {
  format: {kind: 'choice', choices: EXPORT_FORMATS, default: 'onnx', check: checkExportFormat, help: 'output format'},
  checkpoint: {kind: 'path', required: true, help: 'checkpoint folder written by cbp train or cbp import'},
  out: {kind: 'path', check: checkOut, help: 'output file [default: MODEL_QUANT.onnx]'},
  weights: {
    kind: 'choice', choices: WEIGHT_FORMATS, default: 'auto', check: checkWeightFormat,
    help: 'storage of constrained weights: auto packs them (bin 1 bit, ter INT2, the others INT4: ONNX Runtime ≥ 1.16, 1.24, 1.23), int2 INT2 codes (≥ 1.24), int8 INT8 codes and float float32 (≥ 1.6), portable the float32 file for other runtimes (onnx checker, OpenCV DNN), fast constrained dense layers on features (one row per sample) as ONNX Runtime\'s MatMulNBits, 4 bits (≥ 1.17), the rest (token-wise dense layers too) as auto',
  },
  labels: {kind: 'path', help: 'class names for the model card, one per line in output order [default: those the run recorded]'},
  backend: {kind: 'choice', choices: BACKEND_CHOICES, default: 'auto', check: checkBackend, help: 'tfjs backend for the verification forward pass'},
  verifyImages: {kind: 'int', min: 1, max: 10_000, help: `test images the written file is checked on (seeded random inputs where the run has no built-in set of its shape) [default: ${VERIFY_IMAGES}; random inputs: ${VERIFY_INPUTS}]`},
  activations: {
    kind: 'choice', choices: ACTIVATION_TYPES, default: 'float', check: checkActivations,
    help: 'int8 runs convolution and dense layers on ONNX Runtime\'s integer kernels (8-bit activations, calibrated; weights INT8 codes, batch norms folded): faster than float on the CPU; float keeps float activations',
  },
  calibrate: {kind: 'string', help: 'with --activations int8: calibration images, a data set (mnist, fashion-mnist) or an image folder with train/ and val/ [default: the run\'s training data]'},
  calibrationImages: {kind: 'int', min: 1, max: 100_000, default: CALIBRATION_IMAGES, defaultInText: true, help: 'with --activations int8: training images the activation ranges are measured on'},
  calibration: {
    kind: 'choice', choices: CALIBRATION_METHODS, default: DEFAULT_CALIBRATION, defaultInText: true, check: checkCalibration,
    help: `with --activations int8: how a range is taken from them: minmax the extremes, percentile the ${PERCENTILE * 100}th percentile at each end, averaged over batches`,
  },
  keepFloat: {kind: 'list', help: 'with --activations int8: conv/dense layers to keep in float (names as cbp info lists them; * and ? match any characters); repeatable'},
} as const satisfies OptionSchema;

/** What an export is when an option is not given: the CLI's flags show these same values as their defaults. */
export const EXPORT_DEFAULTS = defaultsOf(EXPORT_OPTIONS);

export interface ExportOptions extends Omit<GivenOptions<typeof EXPORT_OPTIONS>, 'checkpoint' | 'labels'> {
  readonly checkpoint: string;
  /** Class names in output order for the model card (a file with one per line, or the names); by default the run's. */
  readonly labels?: string | readonly string[];
  /**
   * What the packed file's logits are checked against: `tfjs`, the training engine's forward pass (the default where
   * it runs the model), or `float-onnx`, the same weights written as float32 and run in ONNX Runtime — a check of the integer packing that
   * loads no TensorFlow.js (used by `cbp import` and the published models).
   */
  readonly verifyWith?: 'tfjs' | 'float-onnx';
  readonly log?: (line: string) => void;
}

/** The options of an int8-activation file only, which ResolvedExport gathers in `int8`. */
type Int8Only = 'calibrate' | 'calibrationImages' | 'calibration' | 'keepFloat';

/**
 * An export's options, every one checked, with EXPORT_DEFAULTS where not given; `out`, when not given, is
 * MODEL_QUANT.onnx, named once the checkpoint is read.
 */
export interface ResolvedExport extends Omit<ResolvedOptions<typeof EXPORT_OPTIONS>, 'labels' | Int8Only> {
  readonly verifyWith?: 'tfjs' | 'float-onnx';
  readonly labels?: string | readonly string[];
  /** With `int8` activations only: their calibration and the layers kept in float. */
  readonly int8?: {readonly calibrate?: string; readonly images: number; readonly method: CalibrationMethod; readonly keepFloat: readonly string[]};
}

/**
 * The one place where `cbp export`'s options (or a library caller's) are checked: each value, and the options that
 * do not go together, before the checkpoint is read. What needs the checkpoint (--labels against its classes,
 * --keep-float against its layers, the calibration data against its input) is checked as soon as it is read.
 */
export function resolveExportOptions(opts: ExportOptions): ResolvedExport {
  // The labels may be the names themselves (a library caller's); the schema checks a file's name only.
  const {calibrate, calibrationImages, calibration, keepFloat, ...o} = resolveOptions(EXPORT_OPTIONS, {...opts, labels: typeof opts.labels === 'string' ? opts.labels : undefined});
  const {weights, activations} = o;
  const int8 = activations === 'int8';
  if (int8 && weights !== 'auto' && weights !== 'int8') {
    throw new CbpError(`--weights ${weights} with --activations int8: an int8-activation file stores its weights as INT8 codes; use --weights auto or int8`, 'FLAG_CONFLICT');
  }
  if (!int8) {
    for (const [flag, v] of [['--calibrate', opts.calibrate], ['--calibration-images', opts.calibrationImages], ['--calibration', opts.calibration], ['--keep-float', opts.keepFloat]] as const) {
      if (v !== undefined) throw new CbpError(`${flag} applies to --activations int8 only`, 'FLAG_CONFLICT');
    }
  }
  return {
    ...o,
    ...(opts.verifyWith !== undefined ? {verifyWith: opts.verifyWith} : {}),
    ...(opts.labels !== undefined ? {labels: opts.labels} : {}),
    ...(int8 ? {int8: {...(calibrate !== undefined ? {calibrate} : {}), images: calibrationImages, method: calibration, keepFloat: keepFloat ?? []}} : {}),
  };
}

export interface ExportResult {
  readonly out: string;
  readonly bytes: number;
  readonly opset: number;
  readonly weights: WeightFormat;
  readonly layers: readonly LayerExport[];
  /** Largest |ORT − reference| over the verification batch's logits, and the largest |logit|. */
  readonly maxDifference: number;
  readonly maxLogit: number;
  readonly verifiedImages: number;
  /** What the file's logits were checked against: the tfjs forward pass, or the float32 export in ONNX Runtime. */
  readonly verifiedWith: 'tfjs' | 'float-onnx';
  /** The model card written into the file (metadata_props and doc_string; docs/FORMAT.md). */
  readonly card: ModelCard;
  readonly activations: ActivationType;
  /** For `int8`: calibration, the layers on integer kernels, top-1 against the float-activation file. */
  readonly int8?: ActivationFacts;
}

/**
 * The weights as the file stores them: in each layer the encoder reported midpoint weights for, those moved to the
 * level above (see asStored); every other tensor as it is.
 */
function storedWeights(weights: Weights, layers: readonly LayerExport[], quant: QuantOrNone): Weights {
  if (quant === 'none') return weights;
  const out: Weights = new Map(weights);
  for (const l of layers) {
    const w = weights.get(`${l.layer}.weight`);
    if (!l.onMidpoint || l.scale === undefined || w === undefined) continue;
    out.set(`${l.layer}.weight`, {shape: w.shape, data: asStored(w.data, l.scale, LEVELS[quant])});
  }
  return out;
}

/**
 * Exports a checkpoint's quantized model as ONNX, then loads the file in onnxruntime-node, runs a batch of test
 * images through it and through the tfjs forward pass with the same quantized weights, and refuses the file
 * (deleting it) if their logits disagree beyond float32 rounding.
 */
export async function exportCheckpoint(given: ExportOptions): Promise<ExportResult> {
  const opts = resolveExportOptions(given);
  const log = given.log;
  const {weights: format, activations} = opts;
  const int8 = opts.int8 !== undefined;
  const ck = readCheckpoint(opts.checkpoint);
  const {config} = ck.state;
  // Models trained here verify on their own test images; imported models (unless told a built-in set of their
  // input shape) on seeded random inputs.
  const opened = isDatasetName(config.data) ? openSource(config.data, {need: 'test', limit: opts.verifyImages ?? VERIFY_IMAGES}) : undefined;
  const ds = opened !== undefined && (config.inputShape === undefined || sameShape(opened.shape, config.inputShape)) ? opened : undefined;
  const spec = specOf(config, ds?.shape);
  const shape = spec.inputShape;
  const weights = modelWeights(ck.tensors);
  // Checked before the graph is written, so a wrong labels file fails at once on a large model.
  const labels = opts.labels === undefined ? undefined
    : checkLabels(typeof opts.labels === 'string' ? readLabels(opts.labels) : opts.labels, spec.numClasses, typeof opts.labels === 'string' ? `--labels ${opts.labels}` : 'labels');
  const card = {state: ck.state, spec, weights: format, ...(labels !== undefined ? {labels} : {})};
  // An int8-activation file starts from the float export, which is verified below as any export is; its model
  // message is kept for the int8 file, which is built from it.
  const built = onnxModel(spec, config.quant, weights, int8 ? 'float' : format, {}, describeWith(card));
  let withLayers: OnnxExport = {bytes: encodeModel(built.model, spec.name), opset: built.opset, irVersion: built.irVersion, layers: built.layers, onnxruntime: built.onnxruntime};
  const out = opts.out ?? `${config.model}_${config.quant}.onnx`;
  const onMidpoint = withLayers.layers.reduce((s, l) => s + (l.onMidpoint ?? 0), 0);
  if (onMidpoint > 0) log?.(`warning: ${onMidpoint} latent weights lie exactly on a midpoint; they are stored at the level above`);

  // Verification: ORT on the bytes about to be written against an independent forward pass (see verifyWith).
  const pixels = shape[0] * shape[1] * shape[2];
  const n = ds ? ds.test.count : (opts.verifyImages ?? VERIFY_INPUTS);
  const x = ds ? await firstBatch(ds.test.batches(n, 'NCHW')) : randomInputs(n * pixels);
  const ortLogits = await onnxLogits(withLayers.bytes, x, [n, ...shape], out, withLayers.onnxruntime);
  // The tfjs engine's forward pass (its entry's reference) is the independent check where it runs the model; the
  // float32 export otherwise.
  const tfjs = engineEntry('tfjs');
  let verifyWith = opts.verifyWith ?? (tfjs.supports(spec, false) === undefined ? 'tfjs' : 'float-onnx');
  // The reference runs the weights as the file stores them: a latent weight exactly on a midpoint is stored at the
  // level above (warned above), so the check compares the encoding and the graph, not that documented choice.
  const floatLogits = async (): Promise<Float32Array> => onnxLogits(writeOnnx(spec, config.quant, weights, 'float', {}).bytes, x, [n, ...shape], out);
  let reference: Float32Array;
  try {
    reference = verifyWith === 'tfjs'
      ? await referenceOf(tfjs)(spec, config.quant, storedWeights(weights, withLayers.layers, config.quant), x, n, opts.backend)
      : await floatLogits();
  } catch (err) {
    // TensorFlow.js on WebAssembly has a 4 GiB heap: a model of hundreds of millions of weights (VGG) does not fit.
    // The check then runs against the float32 export, and says so; any other failure is an error.
    if (verifyWith !== 'tfjs' || opts.verifyWith === 'tfjs' || !/memory access out of bounds|out of memory|Aborted\(/i.test(errorMessage(err))) throw err;
    log?.(`note: the TensorFlow.js forward pass ran out of WebAssembly memory (${errorMessage(err)}); the file is checked against the float32 export instead`);
    verifyWith = 'float-onnx';
    reference = await floatLogits();
  }
  const {maxDifference, maxLogit} = difference(reference, ortLogits);
  if (!(maxDifference <= 1e-3 * Math.max(1, maxLogit))) {
    throw new CbpError(
      `export of ${opts.checkpoint} failed verification: ONNX Runtime and ${verifyWith === 'tfjs' ? 'tfjs' : 'the float32 export'} logits differ by up to ${maxDifference} ` +
        `(largest logit ${maxLogit}) on ${n} test images; no file was written`,
      'EXPORT_MISMATCH',
    );
  }
  if (format === 'fast') {
    // MatMulNBits at accuracy_level 0 computes in float32 from exactly the float export's weights, so the logits may
    // differ from that file's by summation order only: held to FAST_TOLERANCE, whatever verifyWith is.
    const float = difference(verifyWith === 'float-onnx' ? reference : await floatLogits(), ortLogits);
    if (!(float.maxDifference <= FAST_TOLERANCE * Math.max(1, float.maxLogit))) {
      throw new CbpError(
        `export of ${opts.checkpoint} failed verification: the --weights fast file's logits differ from the float32 export's by up to ${float.maxDifference} ` +
          `(largest logit ${float.maxLogit}, allowed ${FAST_TOLERANCE} of it) on ${n} test images; no file was written`,
        'EXPORT_MISMATCH',
      );
    }
  }
  let facts: ActivationFacts | undefined;
  let written: Written = withLayers;
  if (opts.int8 !== undefined) {
    const float = {model: built.model, layers: built.layers, bytes: withLayers.bytes};
    // --weights auto: constrained codes in the constraint's narrowest storage, unpacked to INT8 when ONNX Runtime loads the file.
    const storage = format === 'auto' && config.quant !== 'none' ? CONSTRAINTS[config.quant].storage : 'int8';
    const q = await int8Model(spec, config.quant, weights, float, dataOf(ck.state), {...opts.int8, storage}, log);
    facts = q.facts;
    written = {layers: q.layers, opset: q.opset, irVersion: q.irVersion, onnxruntime: newerRuntime(INT8_ACTIVATIONS_RUNTIME, q.onnxruntime ?? INT8_ACTIVATIONS_RUNTIME), activations: facts};
    withLayers = {...written, bytes: encodeModel(described(q.model, written, {}, describeWith(card)), spec.name)};
  }
  writeFileAtomic(out, withLayers.bytes);
  return {
    out,
    bytes: withLayers.bytes.length,
    opset: withLayers.opset,
    weights: format,
    layers: withLayers.layers,
    maxDifference,
    maxLogit,
    verifiedImages: n,
    verifiedWith: verifyWith,
    card: cardOf(card, written),
    activations,
    ...(facts !== undefined ? {int8: facts} : {}),
  };
}

/**
 * How far a `--weights fast` file's logits may be from the float export's, relative to the largest logit (at least
 * 1): float32 summation in another order, measured at up to 5.4·10⁻⁷ of it (untrained LeNet-5; docs/DEPLOY.md).
 */
export const FAST_TOLERANCE = 1e-5;

/** Largest |reference − other| and largest |reference|. */
/** An engine's reference forward pass, which its entry declares. */
function referenceOf(entry: EngineEntry): ReferenceForward {
  if (entry.referenceForward === undefined) throw new Error(`internal: the ${entry.name} engine has no reference forward pass`);
  return entry.referenceForward;
}

function difference(reference: Float32Array, other: Float32Array): {maxDifference: number; maxLogit: number} {
  let maxDifference = 0;
  let maxLogit = 0;
  for (let i = 0; i < reference.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(reference[i] - other[i]));
    maxLogit = Math.max(maxLogit, Math.abs(reference[i]));
  }
  return {maxDifference, maxLogit};
}

async function onnxLogits(bytes: Uint8Array, x: Float32Array, dims: readonly number[], name: string, needs?: string): Promise<Float32Array> {
  const opened = await openSession(bytes, 'cpu', name, needs);
  try {
    return (await runBatch(opened.session, x, dims, name)).data;
  } finally {
    await opened.session.release();
  }
}

async function firstBatch(batches: AsyncGenerator<{x: Float32Array}>): Promise<Float32Array> {
  const first = await batches.next();
  await batches.return(undefined);
  if (first.done === true) throw new CbpError('internal: no test images to verify the export with');
  return first.value.x;
}

/** Standard-normal inputs from a fixed seed, so a verification failure can be reproduced. */
function randomInputs(count: number): Float32Array {
  const rng = new Rng(1234);
  return Float32Array.from({length: count}, () => rng.normal());
}

/** How each constraint is stored, for help texts: `bin: 1 bit per weight, unpacked in-graph, ter: INT2, …`. */
export function storageHelp(): string {
  return QUANTS.map((q) => `${q}: ${STORAGE[CONSTRAINTS[q].storage].help}`).join(', ');
}
