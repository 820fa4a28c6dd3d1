import {CbpError} from '../src/core/errors';
import {required} from '../src/core/checks';
import {codeStep, encodeLevels} from '../src/cbp/codes';
import {STORAGE, packSigned} from './codes';
import type {Weights} from '../src/core/weights';
import type {QuantOrNone} from '../models/spec';
import {AttributeType, DataType, attributeOf, type AttributeMsg, type GraphMsg, type ModelMsg, type NodeMsg, type TensorMsg, type ValueInfoMsg} from './schema';

/**
 * `cbp export --activations int8`: a float graph (as `writeOnnx` writes it with `float` storage) turned into the QDQ
 * form ONNX Runtime runs on its integer kernels in a stock session. The steps, each a function here:
 *
 * 1. `planInt8`: batch norms folded into the convolutions before them (per output channel: W·γ/σ, (b − μ)·γ/σ + β);
 *    the tensors that carry an 8-bit activation chosen (`points`): the input and every node's output but the logits,
 *    where an output read only by a ReLU (or a Clip from 0) is left to the activation's output, so ONNX Runtime drops
 *    the activation into the integer layer before it; MaxPool, Flatten, Reshape, Identity and Transpose keep their
 *    input's parameters, so ONNX Runtime drops their quantize/dequantize pair and runs them on bytes.
 * 2. The caller runs `plan.calibration` (the folded float graph with every calibrated point as an output) on
 *    calibration images and gathers each point's range (`RangeGatherer`).
 * 3. `writeInt8`: every point gets QuantizeLinear → DequantizeLinear (uint8, zero point from the range); the weights
 *    of every convolution and dense layer not kept in float become INT8 codes with one scale per output channel
 *    (DequantizeLinear on axis 0) and their biases INT32 at input scale × weight scale, the pattern ONNX Runtime's
 *    QDQ fusions turn into QLinearConv, QGemm, QLinearAdd, QLinearGlobalAveragePool.
 *
 * CBP's weights lose nothing: a constrained layer's weights are whole multiples of one step (the codes), and after
 * folding a batch norm still whole multiples of one step per channel, so its INT8 codes are the codes themselves.
 * Only layers not constrained (the first and last, by default) are rounded to 8 bits (symmetric, per channel).
 */

/** A constrained layer's exact codes: weight = codes × step (one step for the layer). */
export interface ExactWeight {
  readonly codes: Int8Array;
  readonly step: number;
}

/**
 * The exact codes of the constrained layers of an export (`layers`, as `onnxModel` reports them), by weight
 * initializer name: each layer's level codes and its step, code unit × scale.
 */
export function exactWeights(layers: readonly {readonly layer: string; readonly constrained: boolean; readonly scale?: number}[], weights: Weights, quant: QuantOrNone): Map<string, ExactWeight> {
  const exact = new Map<string, ExactWeight>();
  if (quant === 'none') return exact;
  for (const l of layers) {
    const w = weights.get(`${l.layer}.weight`);
    if (!l.constrained || l.scale === undefined || w === undefined) continue;
    exact.set(`${l.layer}.weight`, {codes: encodeLevels(w.data, l.scale, quant).codes, step: codeStep(quant, l.scale)});
  }
  return exact;
}

/** Where a point's quantization parameters come from. */
export type PointRule =
  | {readonly kind: 'calibrated'; readonly nonNegative: boolean; readonly max?: number}
  | {readonly kind: 'same'; readonly as: string};

export interface Int8Plan {
  /** The folded float graph (batch norms folded), the one the int8 file quantizes. */
  readonly folded: ModelMsg;
  /** The folded graph with every calibrated point added as an output: what calibration runs. */
  readonly calibration: ModelMsg;
  /** Tensors that carry 8-bit activations, in graph order, and how their parameters are found. */
  readonly points: ReadonlyMap<string, PointRule>;
  /** Calibrated points that are graph outputs of `calibration`, in its output order (after the logits). */
  readonly calibrated: readonly string[];
  /** Per-channel codes and scales of the integer layers' weights (initializer name → weight). */
  readonly weights: ReadonlyMap<string, ChannelWeight>;
  /** Layers (by weight initializer) that run on integer kernels, and those kept in float. */
  readonly integerLayers: readonly string[];
  readonly floatLayers: readonly string[];
  /** Batch norms folded into the convolution before them. */
  readonly foldedBatchNorms: number;
}

/** A weight as INT8 codes with one positive scale per output channel (axis 0); exact when it came from codes. */
export interface ChannelWeight {
  readonly dims: readonly number[];
  readonly codes: Int8Array;
  readonly scales: Float32Array;
  readonly exact: boolean;
}

/** What an int8-activation file's card says about its activations. */
export interface ActivationFacts {
  readonly method: CalibrationMethod;
  /** Calibration images, and the data they came from. */
  readonly images: number;
  readonly data: string;
  /** Layers on integer kernels and layers kept in float (by layer name). */
  readonly integerLayers: readonly string[];
  readonly floatLayers: readonly string[];
  readonly foldedBatchNorms: number;
  /** Top-1 (0–1) of the float-activation file and of the int8 file on the same test images (null without labels), and how often their top-1 agrees. */
  readonly check: {readonly images: number; readonly data: string; readonly floatTop1: number | null; readonly int8Top1: number | null; readonly agreement: number};
}

export interface Range {
  min: number;
  max: number;
}

/** Nodes the points pass through unchanged: the output keeps the input's parameters (ONNX Runtime then runs them on bytes). */
const SAME_PARAMS = new Set(['MaxPool', 'Flatten', 'Reshape', 'Identity', 'Transpose', 'Squeeze', 'Unsqueeze']);

function floats(t: TensorMsg, what: string): Float32Array {
  if (t.data_type !== DataType.FLOAT) throw new CbpError(`internal: int8 export: ${what} '${t.name}' is not float32`);
  if (t.raw_data !== undefined && t.raw_data.length > 0) {
    const copy = new Uint8Array(t.raw_data);
    return new Float32Array(copy.buffer, 0, copy.length / 4);
  }
  return Float32Array.from(t.float_data ?? []);
}


function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorMsg {
  return {name, dims: [...dims], data_type: DataType.FLOAT, raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength)};
}

/** Per-output-channel symmetric INT8 codes of float weights (axis 0): scale = max|w|/127 per channel. */
function roundedWeight(dims: readonly number[], w: Float32Array): ChannelWeight {
  const channels = dims[0];
  const per = w.length / channels;
  const codes = new Int8Array(w.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(w[i]));
    const s = m > 0 ? m / 127 : 1;
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) codes[i] = Math.max(-127, Math.min(127, Math.round(w[i] / s)));
  }
  return {dims, codes, scales, exact: false};
}

/**
 * Plans the int8 file from a float graph. `exact` gives the constrained layers' codes (by weight initializer name);
 * `keepFloat` says which convolution/dense layers (by weight initializer name) stay in float.
 */
export function planInt8(model: ModelMsg, exact: ReadonlyMap<string, ExactWeight>, keepFloat: (weight: string) => boolean): Int8Plan {
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const consumers = new Map<string, NodeMsg[]>();
  for (const n of g.node) for (const i of n.input) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const outputs = new Set(g.output.map((o) => o.name));

  // Weights of the layers, as INT8 codes × per-channel scales; exact ones start from their codes.
  const weights = new Map<string, ChannelWeight>();
  const layerWeight = (n: NodeMsg): string | undefined => ((n.op_type === 'Conv' || n.op_type === 'Gemm') && inits.has(n.input[1]) ? n.input[1] : undefined);
  const floatValues = new Map<string, Float32Array>();
  const replaced = new Map<string, TensorMsg>();
  const removed = new Set<string>();
  const newInits: TensorMsg[] = [];
  const nodes: NodeMsg[] = [];
  let foldedBatchNorms = 0;
  for (const n of g.node) {
    const w = layerWeight(n);
    if (w === undefined) continue;
    const t = inits.get(w);
    if (t === undefined) continue;
    floatValues.set(w, floats(t, 'weight'));
    const e = exact.get(w);
    if (e !== undefined) weights.set(w, {dims: t.dims, codes: Int8Array.from(e.codes), scales: new Float32Array(t.dims[0]).fill(e.step), exact: true});
  }
  for (const n of g.node) {
    if (removed.has(n.name)) continue;
    const w = layerWeight(n);
    const next = consumers.get(n.output[0]) ?? [];
    const bn = next.length === 1 && next[0].op_type === 'BatchNormalization' && next[0].input[0] === n.output[0] && !outputs.has(n.output[0]) ? next[0] : undefined;
    if (n.op_type !== 'Conv' || w === undefined || bn === undefined || !bn.input.slice(1, 5).every((i) => inits.has(i))) {
      nodes.push(n);
      continue;
    }
    // y = γ(conv(x) + b − μ)/√(σ² + ε) + β: scale each output channel's weights by f = γ/√(σ² + ε).
    const [gamma, beta, mean, variance] = bn.input.slice(1, 5).map((i) => floats(required(inits, i, 'batch-norm parameter'), 'batch-norm parameter'));
    const eps = attributeOf(bn, 'epsilon')?.f ?? 1e-5;
    const values = required(floatValues, w, 'weight values');
    const channels = gamma.length;
    const per = values.length / channels;
    const oldBias = n.input[2] !== undefined && n.input[2] !== '' ? floats(required(inits, n.input[2], 'bias'), 'bias') : new Float32Array(channels);
    const folded = new Float32Array(values.length);
    const bias = new Float32Array(channels);
    const cw = weights.get(w);
    for (let c = 0; c < channels; c++) {
      const f = gamma[c] / Math.sqrt(variance[c] + eps);
      for (let i = c * per; i < (c + 1) * per; i++) folded[i] = values[i] * f;
      bias[c] = (oldBias[c] - mean[c]) * f + beta[c];
      if (cw !== undefined) {
        // Codes × step × f: the same codes with a per-channel scale; a negative f flips the codes' signs.
        const s = cw.scales[c] * f;
        cw.scales[c] = s === 0 ? 1 : Math.abs(s);
        if (s <= 0) for (let i = c * per; i < (c + 1) * per; i++) cw.codes[i] = s === 0 ? 0 : -cw.codes[i];
      }
    }
    floatValues.set(w, folded);
    replaced.set(w, floatTensor(w, inits.get(w)?.dims ?? [], folded));
    const biasName = `${n.name}.folded_bias`;
    newInits.push(floatTensor(biasName, [channels], bias));
    removed.add(bn.name);
    nodes.push({...n, input: [n.input[0], n.input[1], biasName], output: [bn.output[0]]});
    foldedBatchNorms++;
  }
  // A convolution on the input with fewer channels than a multiple of 4 (an RGB image) reads the input padded with
  // zero channels: ONNX Runtime's fast integer convolutions want a multiple of 4 input channels, and otherwise fall
  // back to a general kernel as slow as the float one. The zero channels meet zero weights: the same result.
  const inputName = g.input[0].name;
  let padded: string | undefined;
  for (let k = 0; k < nodes.length; k++) {
    const n = nodes[k];
    const w = layerWeight(n);
    const t = w === undefined ? undefined : (replaced.get(w) ?? inits.get(w));
    if (w === undefined || t === undefined || n.op_type !== 'Conv' || n.input[0] !== inputName || keepFloat(w) || (attributeOf(n, 'group')?.i ?? 1) !== 1) continue;
    const [out, cin, ...kernel] = t.dims;
    const extra = (4 - (cin % 4)) % 4;
    if (extra === 0 || kernel.length !== 2) continue;
    const area = kernel[0] * kernel[1];
    const values = required(floatValues, w, 'weight values');
    const wide = new Float32Array(out * (cin + extra) * area);
    for (let o = 0; o < out; o++) wide.set(values.subarray(o * cin * area, (o + 1) * cin * area), o * (cin + extra) * area);
    const dims = [out, cin + extra, ...kernel];
    floatValues.set(w, wide);
    replaced.set(w, floatTensor(w, dims, wide));
    const cw = weights.get(w);
    if (cw !== undefined) {
      const codes = new Int8Array(wide.length);
      for (let o = 0; o < out; o++) codes.set(cw.codes.subarray(o * cin * area, (o + 1) * cin * area), o * (cin + extra) * area);
      weights.set(w, {dims, codes, scales: cw.scales, exact: cw.exact});
    }
    if (padded === undefined) {
      padded = `${inputName}_padded`;
      const pads = BigInt64Array.from([0, 0, 0, 0, 0, extra, 0, 0].map(BigInt));
      newInits.push({name: `${padded}_pads`, dims: [8], data_type: DataType.INT64, raw_data: new Uint8Array(pads.buffer)});
      nodes.unshift({name: padded, op_type: 'Pad', input: [inputName, `${padded}_pads`], output: [padded], attribute: []});
      k++;
    }
    nodes[k] = {...n, input: [padded, ...n.input.slice(1)]};
  }
  const used = new Set(nodes.flatMap((n) => n.input));
  const initializer = [...g.initializer.filter((t) => used.has(t.name)).map((t) => replaced.get(t.name) ?? t), ...newInits];
  const folded: ModelMsg = {...model, graph: {...g, node: nodes, initializer}};

  // Which layers run on integers; the float values of the others stay.
  const integerLayers: string[] = [];
  const floatLayers: string[] = [];
  for (const n of nodes) {
    const w = layerWeight(n);
    if (w === undefined) continue;
    if (keepFloat(w)) {
      floatLayers.push(w);
      weights.delete(w);
      continue;
    }
    integerLayers.push(w);
    if (!weights.has(w)) {
      weights.set(w, roundedWeight((replaced.get(w) ?? required(inits, w, 'weight')).dims, required(floatValues, w, 'weight values')));
    }
  }

  // The points: the input and each node output but the logits, an activation's input left to its output.
  const foldedConsumers = new Map<string, NodeMsg[]>();
  for (const n of nodes) for (const i of n.input) foldedConsumers.set(i, [...(foldedConsumers.get(i) ?? []), n]);
  const floatWeights = new Set(floatLayers);
  const onlyFloatLayers = (t: string): boolean => (foldedConsumers.get(t) ?? []).every((c) => (c.op_type === 'Conv' || c.op_type === 'Gemm') && floatWeights.has(c.input[1]) && c.input[0] === t);
  const fusedActivation = (t: string): boolean => {
    const c = foldedConsumers.get(t) ?? [];
    return c.length === 1 && activationFloor(c[0], inits) !== undefined;
  };
  const points = new Map<string, PointRule>();
  const input = g.input[0].name;
  if (!onlyFloatLayers(input)) points.set(input, {kind: 'calibrated', nonNegative: false});
  // Shape arithmetic (a resize's output size: Shape, Slice, Concat of a value's shape) carries integers, no activation.
  const shapeValues = new Set<string>();
  for (const n of nodes) {
    const t = n.output[0];
    if (n.op_type === 'Shape' || (n.input.some((i) => shapeValues.has(i)) && n.input.every((i) => i === '' || shapeValues.has(i) || inits.has(i)))) {
      shapeValues.add(t);
      continue;
    }
    if (outputs.has(t) || fusedActivation(t) || onlyFloatLayers(t)) continue;
    const floor = activationFloor(n, inits);
    // The input's zero-channel padding runs on its bytes (writeInt8), with the input's parameters.
    const inputPad = n.op_type === 'Pad' && n.name === `${input}_padded`;
    if ((SAME_PARAMS.has(n.op_type) || inputPad) && points.has(n.input[0])) points.set(t, {kind: 'same', as: root(points, n.input[0])});
    else if (floor !== undefined) points.set(t, {kind: 'calibrated', nonNegative: true, ...(floor.max !== undefined ? {max: floor.max} : {})});
    else points.set(t, {kind: 'calibrated', nonNegative: false});
  }
  const calibrated = [...points].filter(([t, r]) => r.kind === 'calibrated' && t !== input).map(([t]) => t);
  const calibration: ModelMsg = {
    ...folded,
    graph: {
      ...folded.graph,
      output: [...g.output, ...calibrated.map(shapeless)],
    },
  };
  return {folded, calibration, points, calibrated, weights, integerLayers, floatLayers, foldedBatchNorms};
}

/**
 * A float32 graph output of unknown shape: the shape field left out (an empty dim list would say rank 0), so ONNX
 * Runtime takes it from the producer.
 */
function shapeless(name: string): ValueInfoMsg {
  // ValueInfoMsg types the shape as present because every file cbp writes for others has one; ONNX makes it
  // optional, and this calibration graph is only run here.
  return {name, type: {tensor_type: {elem_type: DataType.FLOAT}}} as unknown as ValueInfoMsg;
}

function root(points: ReadonlyMap<string, PointRule>, t: string): string {
  const r = points.get(t);
  return r?.kind === 'same' ? r.as : t;
}

/** A ReLU, or a Clip whose lower bound is 0 (ReLU6): the activations ONNX Runtime folds into a quantized output. */
function activationFloor(n: NodeMsg, inits: ReadonlyMap<string, TensorMsg>): {max?: number} | undefined {
  if (n.op_type === 'Relu') return {};
  if (n.op_type !== 'Clip') return undefined;
  const bound = (i: number): number | undefined => {
    const name = n.input[i];
    if (name === undefined || name === '') return undefined;
    const t = inits.get(name);
    return t === undefined ? Number.NaN : floats(t, 'Clip bound')[0];
  };
  const lo = bound(1);
  const hi = bound(2);
  if (lo !== 0 || Number.isNaN(hi ?? 0)) return undefined;
  return hi === undefined ? {} : {max: hi};
}

/** Gathers each calibrated tensor's range over batches: min/max, or each batch's percentile averaged. */
export class RangeGatherer {
  private readonly ranges = new Map<string, Range>();
  private readonly sums = new Map<string, {lo: number; hi: number; batches: number}>();

  constructor(readonly method: CalibrationMethod) {}

  add(tensor: string, values: Float32Array): void {
    let lo = Infinity;
    let hi = -Infinity;
    let nan = false;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      nan ||= v !== v;
    }
    if (nan || !Number.isFinite(lo) || !Number.isFinite(hi)) throw new CbpError(`calibration: tensor '${tensor}' holds non-finite values`, 'EXPORT_MISMATCH');
    if (this.method === 'percentile') {
      [lo, hi] = percentiles(values, lo, hi, PERCENTILE);
      const s = this.sums.get(tensor) ?? {lo: 0, hi: 0, batches: 0};
      this.sums.set(tensor, {lo: s.lo + lo, hi: s.hi + hi, batches: s.batches + 1});
      return;
    }
    const r = this.ranges.get(tensor);
    this.ranges.set(tensor, r === undefined ? {min: lo, max: hi} : {min: Math.min(r.min, lo), max: Math.max(r.max, hi)});
  }

  result(): Map<string, Range> {
    if (this.method === 'minmax') return new Map(this.ranges);
    return new Map([...this.sums].map(([t, s]) => [t, {min: s.lo / s.batches, max: s.hi / s.batches}]));
  }
}

export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];
/** The method `cbp export --activations int8` uses unless told: the one measured to keep top-1 best (docs/RESULTS.md). */
export const DEFAULT_CALIBRATION: CalibrationMethod = 'minmax';

/**
 * The oldest ONNX Runtime measured to run an int8-activation file to the same logits: onnxruntime-node 1.10 (1.8's
 * binding does not load in Node 20, so nothing older was measured; docs/DEPLOY.md).
 */
export const INT8_ACTIVATIONS_RUNTIME = '1.10';

/** The share of values inside the range at either end, for the percentile method. */
export const PERCENTILE = 0.9999;

/** The values at fractions 1 − p and p of the sorted values, from a 4096-bin histogram over [lo, hi]. */
function percentiles(values: Float32Array, lo: number, hi: number, p: number): [number, number] {
  if (hi <= lo) return [lo, hi];
  const bins = 4096;
  const h = new Float64Array(bins);
  const k = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) h[Math.min(bins - 1, Math.floor((values[i] - lo) * k))]++;
  const cut = (1 - p) * values.length;
  let acc = 0;
  let a = 0;
  while (a < bins - 1 && acc + h[a] <= cut) acc += h[a++];
  acc = 0;
  let b = bins - 1;
  while (b > 0 && acc + h[b] <= cut) acc += h[b--];
  return [lo + a / k, lo + (b + 1) / k];
}

/** uint8 parameters of a range (widened to hold 0): scale and zero point. */
export function uint8Params(r: Range): {scale: number; zeroPoint: number} {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const scale = Math.fround(hi > lo ? (hi - lo) / 255 : 1);
  const zeroPoint = Math.max(0, Math.min(255, Math.round(-lo / scale)));
  return {scale, zeroPoint};
}

/**
 * The QDQ graph: quantize/dequantize pairs on every point, INT8 weights and INT32 biases on the integer layers.
 * `ranges` holds every calibrated point's range and the input's.
 */
export function writeInt8(plan: Int8Plan, ranges: ReadonlyMap<string, Range>, storage: Int8Storage = 'int8'): Int8File {
  const g = plan.folded.graph;
  const params = new Map<string, {scale: number; zeroPoint: number}>();
  for (const [t, rule] of plan.points) {
    if (rule.kind === 'same') {
      const p = params.get(rule.as);
      if (p === undefined) throw new CbpError(`internal: int8 export: '${t}' follows '${rule.as}', which has no parameters yet`);
      params.set(t, p);
      continue;
    }
    const r = ranges.get(t);
    if (r === undefined) throw new CbpError(`internal: int8 export: no calibrated range for '${t}'`);
    const lo = rule.nonNegative ? 0 : r.min;
    const hi = rule.max !== undefined ? Math.min(r.max, rule.max) : r.max;
    params.set(t, uint8Params({min: lo, max: hi}));
  }
  const inits: TensorMsg[] = [];
  const nodes: NodeMsg[] = [];
  const dq = (t: string): string => (params.has(t) ? `${t}_dq` : t);
  const scaleAndZero = (t: string, p: {scale: number; zeroPoint: number}): void => {
    inits.push({name: `${t}_scale`, dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(Float32Array.of(p.scale).buffer)});
    inits.push({name: `${t}_zero_point`, dims: [], data_type: DataType.UINT8, raw_data: Uint8Array.of(p.zeroPoint)});
  };
  const dequantize = (t: string): void => {
    nodes.push({name: `${t}_dq`, op_type: 'DequantizeLinear', input: [`${t}_q`, `${t}_scale`, `${t}_zero_point`], output: [`${t}_dq`], attribute: []});
  };
  const qdq = (t: string, withDq = true): void => {
    const p = params.get(t);
    if (p === undefined) return;
    scaleAndZero(t, p);
    nodes.push({name: `${t}_q`, op_type: 'QuantizeLinear', input: [t, `${t}_scale`, `${t}_zero_point`], output: [`${t}_q`], attribute: []});
    if (withDq) dequantize(t);
  };
  const inputName = g.input[0].name;
  const inputPad = g.node.find((n) => n.op_type === 'Pad' && n.name === `${inputName}_padded` && n.input[0] === inputName);
  const padOnBytes = inputPad !== undefined && params.has(inputName) && g.node.every((n) => n === inputPad || !n.input.includes(inputName));
  const initNames = new Map(g.initializer.map((t) => [t.name, t]));
  const dropped = new Set<string>();
  const packedLayers = new Set<string>();
  qdq(inputName, !padOnBytes);
  for (const n of g.node) {
    if (padOnBytes && n === inputPad) {
      // Zero channels added to the quantized input: uint8 bytes at the zero point, a quarter of padding floats.
      const t = n.output[0];
      const p = params.get(t);
      if (p === undefined) throw new CbpError(`internal: int8 export: the padded input has no parameters`);
      scaleAndZero(t, p);
      nodes.push({name: t, op_type: 'Pad', input: [`${inputName}_q`, n.input[1], `${inputName}_zero_point`], output: [`${t}_q`], attribute: []});
      dequantize(t);
      continue;
    }
    const w = n.op_type === 'Conv' || n.op_type === 'Gemm' ? n.input[1] : undefined;
    const cw = w === undefined ? undefined : plan.weights.get(w);
    const x = params.get(n.input[0]);
    let input = n.input.map((i, k) => (k === 0 || !initNames.has(i) ? dq(i) : i));
    if (cw !== undefined && w !== undefined && x !== undefined) {
      // INT8 weights, per output channel; the bias as INT32 at the product's scale.
      const channels = cw.dims[0];
      dropped.add(w);
      const packed = cw.exact ? packing(cw.codes) : 'int8';
      if (packed === 'int8') inits.push({name: `${w}_int8`, dims: [...cw.dims], data_type: DataType.INT8, raw_data: new Uint8Array(cw.codes.buffer, cw.codes.byteOffset, cw.codes.byteLength)});
      else unpacked(`${w}_int8`, cw, packed);
      if (packed !== 'int8') packedLayers.add(w);
      inits.push(floatTensor(`${w}_scale`, [channels], cw.scales));
      inits.push({name: `${w}_zero_point`, dims: [channels], data_type: DataType.INT8, raw_data: new Uint8Array(channels)});
      nodes.push({name: `${w}_dq`, op_type: 'DequantizeLinear', input: [`${w}_int8`, `${w}_scale`, `${w}_zero_point`], output: [`${w}_dq`], attribute: [{name: 'axis', type: AttributeType.INT, i: 0}]});
      input = [input[0], `${w}_dq`];
      const b = n.input[2];
      if (b !== undefined && b !== '') {
        const bias = floats(required(initNames, b, 'bias'), 'bias');
        const scales = new Float32Array(channels);
        const q = new Int32Array(channels);
        for (let c = 0; c < channels; c++) {
          scales[c] = Math.fround(x.scale * cw.scales[c]);
          q[c] = Math.max(-(2 ** 31) + 1, Math.min(2 ** 31 - 1, Math.round(bias[c] / scales[c])));
        }
        dropped.add(b);
        inits.push({name: `${b}_int32`, dims: [channels], data_type: DataType.INT32, raw_data: new Uint8Array(q.buffer)});
        inits.push(floatTensor(`${b}_scale`, [channels], scales));
        nodes.push({name: `${b}_dq`, op_type: 'DequantizeLinear', input: [`${b}_int32`, `${b}_scale`], output: [`${b}_dq`], attribute: [{name: 'axis', type: AttributeType.INT, i: 0}]});
        input.push(`${b}_dq`);
      }
    }
    nodes.push({...n, input});
    qdq(n.output[0]);
  }
  const graph: GraphMsg = {...g, node: nodes, initializer: [...g.initializer.filter((t) => !dropped.has(t.name)), ...inits]};
  const needs = packedLayers.size > 0 && storage !== 'int8' ? STORAGE[storage] : undefined;
  const opset = Math.max(13, needs?.opset ?? 13);
  const model: ModelMsg = {...plan.folded, ir_version: Math.max(plan.folded.ir_version, needs?.irVersion ?? 0), opset_import: plan.folded.opset_import.map((o) => ((o.domain ?? '') === '' ? {...o, version: Math.max(o.version, opset)} : o)), graph};
  return {model, packedLayers: [...packedLayers], storage: needs === undefined ? 'int8' : storage, opset, irVersion: model.ir_version, onnxruntime: needs?.onnxruntime};

  /** How a constrained layer's codes are stored: `storage` when every code fits it (a channel whose batch norm scale is 0 has codes 0, which one bit cannot hold). */
  function packing(codes: Int8Array): Int8Storage {
    if (storage === 'int8') return 'int8';
    const [lo, hi] = storage === 'bit1' ? [-1, 1] : storage === 'int2' ? [-2, 1] : [-8, 7];
    for (let i = 0; i < codes.length; i++) if (codes[i] < lo || codes[i] > hi || (storage === 'bit1' && codes[i] === 0)) return 'int8';
    return storage;
  }

  /**
   * INT8 codes `name` computed from packed storage by constant operators, which ONNX Runtime folds into an INT8
   * initializer at load, before its QDQ fusions read it: INT2/INT4 by a Cast; one bit by the bytes shifted and masked
   * (as writer.ts unpacks binary weights), then 2·bit − 1 in INT32 and a Cast to INT8.
   */
  function unpacked(name: string, cw: ChannelWeight, how: Exclude<Int8Storage, 'int8'>): void {
    const int64 = (key: string, values: readonly number[]): void => {
      inits.push({name: key, dims: [values.length], data_type: DataType.INT64, raw_data: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer)});
    };
    const op = (op_type: string, input: string[], output: string, attribute: AttributeMsg[] = []): void => {
      nodes.push({name: output, op_type, input, output: [output], attribute});
    };
    const to = (type: number): AttributeMsg[] => [{name: 'to', type: AttributeType.INT, i: type}];
    if (how !== 'bit1') {
      const bits = how === 'int2' ? 2 : 4;
      inits.push({name: `${name}_packed`, dims: [...cw.dims], data_type: STORAGE[how].type, raw_data: packSigned(cw.codes, bits)});
      op('Cast', [`${name}_packed`], name, to(DataType.INT8));
      return;
    }
    if (!inits.some((t) => t.name === 'cbp.int8_bit_shifts')) {
      inits.push({name: 'cbp.int8_bit_shifts', dims: [1, 8], data_type: DataType.UINT8, raw_data: Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7)}, {name: 'cbp.int8_bit_one', dims: [], data_type: DataType.UINT8, raw_data: Uint8Array.of(1)});
      inits.push({name: 'cbp.int8_two', dims: [], data_type: DataType.INT32, raw_data: new Uint8Array(Int32Array.of(2).buffer)}, {name: 'cbp.int8_one', dims: [], data_type: DataType.INT32, raw_data: new Uint8Array(Int32Array.of(1).buffer)});
    }
    const n = cw.codes.length;
    const m = Math.ceil(n / 8);
    const bytes = new Uint8Array(m);
    for (let i = 0; i < n; i++) if (cw.codes[i] > 0) bytes[i >> 3] |= 1 << (i & 7);
    inits.push({name: `${name}_bits`, dims: [m, 1], data_type: DataType.UINT8, raw_data: bytes});
    int64(`${name}_flat_shape`, [m * 8]);
    int64(`${name}_cut_start`, [0]);
    int64(`${name}_cut_end`, [n]);
    int64(`${name}_shape`, [...cw.dims]);
    op('BitShift', [`${name}_bits`, 'cbp.int8_bit_shifts'], `${name}_shifted`, [{name: 'direction', type: AttributeType.STRING, s: Buffer.from('RIGHT')}]);
    op('BitwiseAnd', [`${name}_shifted`, 'cbp.int8_bit_one'], `${name}_bit`);
    op('Cast', [`${name}_bit`], `${name}_bit32`, to(DataType.INT32));
    op('Reshape', [`${name}_bit32`, `${name}_flat_shape`], `${name}_flat`);
    op('Slice', [`${name}_flat`, `${name}_cut_start`, `${name}_cut_end`], `${name}_cut`);
    op('Reshape', [`${name}_cut`, `${name}_shape`], `${name}_01`);
    op('Mul', [`${name}_01`, 'cbp.int8_two'], `${name}_02`);
    op('Sub', [`${name}_02`, 'cbp.int8_one'], `${name}_pm1`);
    op('Cast', [`${name}_pm1`], name, to(DataType.INT8));
  }
}

/** How an int8-activation file stores its constrained layers' codes (`--weights auto`: the constraint's narrowest). */
export type Int8Storage = 'int8' | 'bit1' | 'int2' | 'int4';

export interface Int8File {
  readonly model: ModelMsg;
  /** Weight initializers stored narrower than INT8. */
  readonly packedLayers: readonly string[];
  readonly storage: Int8Storage;
  readonly opset: number;
  readonly irVersion: number;
  /** The oldest ONNX Runtime the packed storage needs, when packed. */
  readonly onnxruntime?: string;
}
