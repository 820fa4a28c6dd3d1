import * as ort from 'onnxruntime-node';
import type {Weights} from '../core/weights';
import {sameShape} from '../core/weights';
import {CbpError} from '../core/errors';
import {globMatcher} from '../core/checks';
import {countHits} from '../core/topk';
import {openSession} from '../core/ort';
import {shown} from '../core/shown';
import {openSource, EVAL_BATCH, type Source} from '../data/source';
import {valueShapes, type ModelSpec, type QuantOrNone} from '../../models/index';
import {encodeModel, type LayerExport} from '../../onnx/writer';
import {exactWeights, planInt8, RangeGatherer, writeInt8, type ActivationFacts, type CalibrationMethod, type Int8Plan, type Int8Storage, type Range} from '../../onnx/int8';
import type {ModelMsg} from '../../onnx/schema';

/** `cbp export --activations int8`: what calibrates it and which layers stay float. */
export interface Int8Options {
  /** Calibration images: a built-in data set or an image folder (its train/ split); by default the run's data. */
  readonly calibrate?: string;
  /** How many training images calibrate the ranges (the first N; spread over the classes for folders). */
  readonly images: number;
  readonly method: CalibrationMethod;
  /** Convolution/dense layers (names or globs) that stay float32 with float activations. */
  readonly keepFloat: readonly string[];
  /** How constrained layers' codes are stored: INT8, or the constraint's narrowest storage (unpacked to INT8 at load). */
  readonly storage: Int8Storage;
}

/** Default calibration images: a few hundred (measured: docs/RESULTS.md, "int8 activations"). */
export const CALIBRATION_IMAGES = 256;

/** Test images the int8 file's top-1 is measured on against the float-activation file's. */
const CHECK_IMAGES: Record<Source['kind'], number> = {builtin: 10000, folder: 256};

export interface Int8Export {
  readonly model: ModelMsg;
  /** Opset, IR version and the oldest runtime the packed storage needs (when packed). */
  readonly opset: number;
  readonly irVersion: number;
  readonly onnxruntime?: string;
  readonly layers: readonly LayerExport[];
  readonly facts: ActivationFacts;
}

/** The layer of a weight initializer name (`layer1.0.conv1.weight` → `layer1.0.conv1`). */
const layerOf = (weight: string): string => weight.replace(/\.weight$/, '');

/**
 * The int8-activation file of a float export (`float`: what `onnxModel` wrote with `float` storage, its layers and its bytes):
 * batch norms folded, ranges calibrated in ONNX Runtime on `opts.images` training images, QDQ written, then the
 * file's top-1 measured against the float file's on test images of the same data.
 */
export async function int8Model(
  spec: ModelSpec,
  quant: QuantOrNone,
  weights: Weights,
  float: {readonly model: ModelMsg; readonly layers: readonly LayerExport[]; readonly bytes: Uint8Array},
  data: string | undefined,
  opts: Int8Options,
  log?: (line: string) => void,
): Promise<Int8Export> {
  refuseTokens(spec);
  const source = calibrationSource(spec, data, opts);
  const exact = exactWeights(float.layers, weights, quant);
  const layerNames = float.layers.map((l) => l.layer);
  const keep = globMatcher('--keep-float', opts.keepFloat, layerNames, 'convolution or dense layer');
  const plan = planInt8(float.model, exact, (w) => keep(layerOf(w)));
  if (plan.integerLayers.length === 0) throw new CbpError(`--keep-float ${opts.keepFloat.join(',')}: keeps every layer in float; nothing would run on integers`, 'BAD_FLAG');
  const ranges = await calibrate(plan, spec, source, opts, log);
  const file = writeInt8(plan, ranges, opts.storage);
  const check = await compare(float.bytes, file.model, spec, source, log);
  const integer = new Set(plan.integerLayers.map(layerOf));
  const packed = new Set(file.packedLayers.map(layerOf));
  const bits = {bit1: 1, int2: 2, int4: 4, int8: 8} as const;
  const layers = float.layers.map((l): LayerExport => (packed.has(l.layer) ? {...l, storage: file.storage, bitsPerWeight: bits[file.storage]} : integer.has(l.layer) ? {...l, storage: 'int8', bitsPerWeight: 8} : l));
  return {
    model: file.model,
    opset: file.opset,
    irVersion: file.irVersion,
    ...(file.onnxruntime !== undefined ? {onnxruntime: file.onnxruntime} : {}),
    layers,
    facts: {
      method: opts.method,
      images: Math.min(opts.images, source.train?.count ?? 0),
      data: source.name,
      integerLayers: plan.integerLayers.map(layerOf),
      floatLayers: plan.floatLayers.map(layerOf),
      foldedBatchNorms: plan.foldedBatchNorms,
      check,
    },
  };
}

/**
 * The int8-activation file quantizes images and features around convolutions and dense layers; a model of token
 * values (a vision transformer's [T, C], its attention's per-head values) is refused before any work, naming them.
 */
function refuseTokens(spec: ModelSpec): void {
  const shapes = valueShapes(spec);
  const tokens = spec.nodes.filter((n) => {
    const r = shapes.get(n.name)?.length;
    return r !== 1 && r !== 3;
  });
  if (tokens.length > 0) {
    const names = tokens.slice(0, 4).map((n) => shown(n.name)).join(', ') + (tokens.length > 4 ? `, … (${tokens.length})` : '');
    throw new CbpError(`--activations int8: ${shown(spec.name)} has token values (layers ${names}); the int8-activation export maps images [C, H, W] and features [F] only: export it with --activations float`, 'BAD_FLAG');
  }
}

function calibrationSource(spec: ModelSpec, data: string | undefined, opts: Int8Options): Source {
  const flag = opts.calibrate !== undefined ? '--calibrate' : 'the run\'s data';
  const from = opts.calibrate ?? data;
  if (from === undefined) {
    throw new CbpError('--activations int8 needs calibration images and the run records no training data: give --calibrate DATA (a built-in data set or an image folder with train/ and val/)', 'MISSING_FLAG');
  }
  const source = openSource(from, {need: 'train', limit: opts.images, testLimit: undefined, flag: opts.calibrate !== undefined ? '--calibrate' : '--data', side: spec.inputShape[1]});
  if (!sameShape(source.shape, spec.inputShape)) {
    throw new CbpError(`${flag} ${shown(from)}: images of [${source.shape.join(', ')}], but ${spec.name} reads [${spec.inputShape.join(', ')}]; give --calibrate DATA of the model's input`, 'BAD_FLAG');
  }
  if (source.train === undefined || source.train.count === 0) throw new CbpError(`${flag} ${shown(from)}: no training images to calibrate on`, 'BAD_FOLDER');
  return source;
}

async function calibrate(plan: Int8Plan, spec: ModelSpec, source: Source, opts: Int8Options, log?: (line: string) => void): Promise<Map<string, Range>> {
  const train = source.train;
  if (train === undefined) throw new CbpError('internal: calibration source without training images');
  const {ranges, seen} = await calibrateRanges(plan, spec, train.batches(Math.min(EVAL_BATCH[source.kind], 32), 'NCHW'), opts.method);
  log?.(`calibrated ${plan.points.size} activations on ${seen} training images of ${shown(source.name)} (${opts.method})`);
  return ranges;
}

/**
 * The range of every activation the plan quantizes, gathered by running its calibration graph in ONNX Runtime on
 * `batches` (NCHW images of the model's input), and how many images that was.
 */
export async function calibrateRanges(plan: Int8Plan, spec: ModelSpec, batches: AsyncIterable<{readonly x: Float32Array; readonly count: number}>, method: CalibrationMethod): Promise<{ranges: Map<string, Range>; seen: number}> {
  const opened = await openSession(encodeModel(plan.calibration, spec.name), 'cpu', `${spec.name} (calibration)`);
  const gatherer = new RangeGatherer(method);
  const input = plan.folded.graph.input[0].name;
  let seen = 0;
  try {
    for await (const b of batches) {
      const out = await opened.session.run({[opened.session.inputNames[0]]: new ort.Tensor('float32', b.x, [b.count, ...spec.inputShape])}, plan.calibrated);
      if (plan.points.has(input)) gatherer.add(input, b.x);
      for (const t of plan.calibrated) {
        const d = out[t]?.data;
        if (!(d instanceof Float32Array)) throw new CbpError(`internal: calibration output '${t}' is not float32`);
        gatherer.add(t, d);
      }
      seen += b.count;
    }
  } finally {
    await opened.session.release();
  }
  return {ranges: gatherer.result(), seen};
}

/** Top-1 of the float-activation and the int8 file on the same test images, and how often their top-1 agrees. */
async function compare(float: Uint8Array, int8: ModelMsg, spec: ModelSpec, source: Source, log?: (line: string) => void): Promise<ActivationFacts['check']> {
  const limit = CHECK_IMAGES[source.kind];
  const test = openSource(source.name, {need: 'test', limit, side: spec.inputShape[1]});
  const labelled = test.numClasses === spec.numClasses;
  const a = await openSession(float, 'cpu', `${spec.name} (float activations)`);
  const b = await openSession(encodeModel(int8, spec.name), 'cpu', `${spec.name} (int8 activations)`);
  let n = 0;
  let rightA = 0;
  let rightB = 0;
  let agree = 0;
  try {
    for await (const batch of test.test.batches(Math.min(EVAL_BATCH[test.kind], 100), 'NCHW')) {
      const feed = (s: ort.InferenceSession): Record<string, ort.Tensor> => ({[s.inputNames[0]]: new ort.Tensor('float32', batch.x, [batch.count, ...spec.inputShape])});
      const ya = (await a.session.run(feed(a.session)))[a.session.outputNames[0]].data;
      const yb = (await b.session.run(feed(b.session)))[b.session.outputNames[0]].data;
      if (!(ya instanceof Float32Array) || !(yb instanceof Float32Array)) throw new CbpError('internal: logits are not float32');
      const k = spec.numClasses;
      // Labels only when the data's classes are the model's; otherwise class 0 stands in and only the agreement counts.
      const labels = labelled ? batch.y : new Int32Array(batch.count);
      const ha = countHits(ya, labels, k);
      const hb = countHits(yb, labels, k);
      for (let i = 0; i < batch.count; i++) {
        if (hb.predictions[i] < 0 || !Number.isFinite(yb[i * k + hb.predictions[i]])) throw new CbpError(`the int8 file's logits are not finite on test image ${n + i + 1}; no file was written`, 'EXPORT_MISMATCH');
        if (ha.predictions[i] === hb.predictions[i]) agree++;
      }
      rightA += ha.top1;
      rightB += hb.top1;
      n += batch.count;
    }
  } finally {
    await a.session.release();
    await b.session.release();
  }
  const check = {images: n, data: test.name, floatTop1: labelled ? rightA / n : null, int8Top1: labelled ? rightB / n : null, agreement: agree / n};
  log?.(`checked on ${n} test images: top-1 ${labelled ? `${pct(check.floatTop1)} with float activations, ${pct(check.int8Top1)} with int8` : 'not measured (the data has another number of classes)'}; the two agree on ${pct(check.agreement)}`);
  return check;
}

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(2)}%`);
