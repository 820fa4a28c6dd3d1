import {createHash} from 'node:crypto';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {Rng} from '../core/rng';
import {VERSION} from '../core/version';
import {openSession, runBatch} from '../core/ort';
import type {Weights} from '../core/weights';
import {checkQuant} from '../cbp/registry';
import {initialScale} from '../cbp/scale';
import {initialSchedule} from '../cbp/schedule';
import {checkLabels, readLabels} from '../data/labels';
import {writeCheckpoint, type RunConfig, type RunOrigin, type RunState} from '../run/checkpoint';
import {importedConfig} from '../run/format';
import {paramInfos, type ModelSpec, type QuantOrNone} from '../../models/index';
import {decodeOnnx, readOnnxBytes} from '../../onnx/reader';
import {writeOnnx} from '../../onnx/writer';
import {CHECK_BATCH, importGraph} from '../../onnx/import/graph';
import {runnableCopy} from '../../onnx/import/runnable';

export interface OnnxImportOptions {
  /** A float ONNX classifier (what torch.onnx.export writes): one image input [N, C, H, W], one logits output. */
  readonly file: string;
  /** The checkpoint folder to write [default: runs/STEM-QUANT-imported]. */
  readonly out?: string;
  /** The constraint the run is set up for (scales mean |w|); `none` (the default) keeps it full precision. */
  readonly quant?: string;
  /** Patterns (`*` any characters, `?` one) of conv/dense layers to keep full precision, on cbp's or the file's node names. */
  readonly keepFloat?: readonly string[];
  /** Class names in output order for the model card: a file with one per line, or the names. */
  readonly labels?: string | readonly string[];
}

export interface OnnxImportResult {
  readonly out: string;
  /** The model's name in the run (the file's stem). */
  readonly model: string;
  readonly quant: QuantOrNone;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** Layers of the spec, and the conv/dense layers CBP constrains and keeps full precision. */
  readonly layers: number;
  readonly constrained: readonly string[];
  readonly fullPrecision: readonly string[];
  readonly tensors: number;
  readonly warnings: readonly string[];
  /** Largest |logit| difference between the imported model (written back as float ONNX) and the file, in ONNX Runtime. */
  readonly maxDifference: number;
  readonly maxLogit: number;
}

/** The model name of an imported file: its stem, in characters safe in file and run names. */
function importedName(file: string): string {
  const stem = path.basename(file).replace(/\.onnx$/i, '').replace(/[^\w.-]/g, '_').slice(0, 64);
  return stem === '' || stem.startsWith('.') ? `imported${stem}` : stem;
}

/** The run folder `cbp import FILE` writes when not told: runs/STEM-QUANT-imported. */
export const defaultImportOut = (file: string, quant: string): string => path.join('runs', `${importedName(file)}-${quant}-imported`);

/**
 * `cbp import MODEL.onnx`: reads a float ONNX classifier into a ModelSpec and its weights (onnx/import/graph.ts),
 * checks in ONNX Runtime that the spec written back as float ONNX gives the file's logits, and writes a checkpoint
 * whose run state carries the spec, so `cbp train --init`, `--resume`, `cbp export` and `cbp info` work on it.
 * Anything the importer does not map is refused whole, before anything is written.
 */
export async function importOnnx(opts: OnnxImportOptions): Promise<OnnxImportResult> {
  const quant = checkQuant(opts.quant ?? 'none');
  const bytes = readOnnxBytes(opts.file);
  const model = decodeOnnx(bytes, opts.file);
  const name = importedName(opts.file);
  const imported = importGraph(model, opts.file, {name, keepFloat: opts.keepFloat});
  const {spec, weights} = imported;
  const labels = opts.labels === undefined ? undefined
    : checkLabels(typeof opts.labels === 'string' ? readLabels(opts.labels) : opts.labels, spec.numClasses, typeof opts.labels === 'string' ? `--labels ${opts.labels}` : 'labels');
  const {maxDifference, maxLogit} = await verify(runnableCopy(bytes, imported.needed, imported.input), spec, weights, opts.file, imported.batch);
  const stored: Weights = new Map();
  for (const info of paramInfos(spec, quant)) {
    const tensor = info.role === 'scale' ? {shape: [1], data: Float32Array.of(initialScale(weights.get(`${info.node}.weight`)?.data ?? []))} : weights.get(info.key);
    if (tensor === undefined) throw new CbpError(`internal: the import of ${opts.file} has no '${info.key}'`);
    stored.set(info.key, tensor);
  }
  const config: RunConfig = importedConfig({model: name, quant, data: 'unknown', numClasses: spec.numClasses, init: opts.file, inputShape: spec.inputShape, spec});
  const origin: RunOrigin = {kind: 'import', version: VERSION, file: opts.file, sha256: createHash('sha256').update(bytes).digest('hex'), format: 'onnx', ...(labels !== undefined ? {labels} : {})};
  const state: RunState = {format: 'cbp-checkpoint', version: 1, config, epoch: 0, schedule: initialSchedule(), progress: [], backend: 'import', origin};
  const out = opts.out ?? defaultImportOut(opts.file, quant);
  writeCheckpoint(out, state, stored);
  const weighted = spec.nodes.filter((node) => node.kind === 'conv2d' || node.kind === 'dense');
  return {
    out,
    model: name,
    quant,
    inputShape: spec.inputShape,
    numClasses: spec.numClasses,
    layers: spec.nodes.length,
    constrained: weighted.filter((node) => (node.kind === 'conv2d' || node.kind === 'dense') && node.constrained).map((node) => node.name),
    fullPrecision: weighted.filter((node) => (node.kind === 'conv2d' || node.kind === 'dense') && !node.constrained).map((node) => node.name),
    tensors: stored.size,
    warnings: imported.warnings,
    maxDifference,
    maxLogit,
  };
}

/**
 * The file (the part of it cbp read: runnableCopy) and the imported spec (written back as float32 ONNX) on the same
 * seeded inputs in ONNX Runtime: their logits must agree to float32 rounding, or the import is refused. The file
 * runs only after every node it runs was read and mapped (no control flow, no custom domain) and the values it
 * holds were counted against the budget (importGraph).
 */
async function verify(original: Uint8Array, spec: ModelSpec, weights: Weights, file: string, batch?: number): Promise<{maxDifference: number; maxLogit: number}> {
  const batchSize = batch ?? CHECK_BATCH;
  const [c, h, w] = spec.inputShape;
  const rng = new Rng(4321);
  const images = Float32Array.from({length: batchSize * c * h * w}, () => rng.normal());
  const logitsOf = async (model: Uint8Array, what: string): Promise<Float32Array> => {
    const opened = await openSession(model, 'cpu', what);
    try {
      return (await runBatch(opened.session, images, [batchSize, c, h, w], what)).data;
    } finally {
      await opened.session.release();
    }
  };
  const theirs = await logitsOf(original, file);
  const ours = await logitsOf(writeOnnx(spec, 'none', weights, 'float', {}).bytes, `${file} (as imported)`);
  if (theirs.length !== ours.length) throw new CbpError(`${file}: gives ${theirs.length / batchSize} outputs per image, the import ${ours.length / batchSize}; nothing was written`, 'UNSUPPORTED_ONNX');
  let maxDifference = 0;
  let maxLogit = 0;
  for (let i = 0; i < theirs.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(theirs[i] - ours[i]));
    maxLogit = Math.max(maxLogit, Math.abs(theirs[i]));
  }
  if (!(maxDifference <= 1e-4 * Math.max(1, maxLogit))) {
    throw new CbpError(`${file}: the imported model's logits differ from the file's by up to ${maxDifference} (largest logit ${maxLogit}) in ONNX Runtime; nothing was written`, 'UNSUPPORTED_ONNX');
  }
  return {maxDifference, maxLogit};
}
