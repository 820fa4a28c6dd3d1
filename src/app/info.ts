import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {fileKind, namedOnnx} from '../core/file-kind';
import {wrongFile} from '../core/wrong-file';
import {readCheckpoint, modelWeights, WEIGHTS_FILE, type Checkpoint} from '../run/checkpoint';
import {sizeOf} from '../core/weights';
import {paramInfos} from '../../models/spec';
import {CONSTRAINTS, isQuant, levelCodes, type Quant} from '../cbp/registry';
import {specOf} from '../run/spec-of';
import {MATMUL_NBITS, STORAGE, unpackNBits, unpackSigned} from '../../onnx/codes';
import {encodeLevels} from '../cbp/codes';
import {decodeOnnx, readOnnx, metadataOf} from '../../onnx/reader';
import {DataType, type NodeMsg, type TensorMsg} from '../../onnx/schema';
import {checkedSize} from '../../onnx/tensor-check';
import type {LayerExport} from '../../onnx/writer';
import {checkpointCard, readCard, type CardView} from './card';

export interface LayerInfo {
  readonly layer: string;
  readonly constraint: Quant | 'none';
  readonly scale: number | null;
  readonly weights: number;
  readonly bitsPerWeight: number;
  /**
   * How the file stores the weights: float32, level codes (int8, int4, int2, bit1: restored to float weights when ONNX
   * Runtime loads the file), or `matmulnbits` (`--weights fast`: 4-bit codes ONNX Runtime's MatMulNBits multiplies
   * from on every run). For a checkpoint, what `cbp export` writes by default.
   */
  readonly storage: LayerExport['storage'];
  /** Allowed values (in units of the scale) and how many weights sit at each; empty for float layers. */
  readonly levels: readonly number[];
  readonly counts: readonly number[];
  readonly float32Bytes: number;
  readonly storedBytes: number;
  /** In a file with int8 activations: whether the layer runs on integer kernels (its input and weights dequantized) or in float. */
  readonly activations?: 'int8' | 'float';
}

export interface ModelInfo {
  readonly file: string;
  readonly kind: 'onnx' | 'checkpoint';
  readonly model: string;
  readonly constraint: string;
  readonly layers: readonly LayerInfo[];
  /** Every stored parameter (weights, biases, batch-norm tensors). */
  readonly parameters: number;
  readonly bytesOnDisk: number;
  readonly float32Bytes: number;
  /** float32-equivalent bytes over bytes on disk. */
  readonly compression: number;
  /** The model card: read from an ONNX file (null fields where the file does not say), or what `cbp export` would write for a checkpoint. */
  readonly card: CardView;
}

const BITS: Record<number, number> = {[DataType.FLOAT]: 32, [DataType.INT8]: 8, [DataType.INT4]: 4, [DataType.INT2]: 2, [DataType.UINT8]: 8};
/** Bits per code of the tensor types level codes may have. */
const CODE_BITS: Partial<Record<number, 2 | 4 | 8>> = {[DataType.INT8]: 8, [DataType.INT4]: 4, [DataType.INT2]: 2, [DataType.UINT8]: 8};
/** The storage a layer's weights of so many bits each have (1-bit weights are told apart by their bytes). */
const STORED: Record<number, LayerExport['storage']> = {32: 'float32', 8: 'int8', 4: 'int4', 2: 'int2'};

/**
 * The level codes behind a constrained layer's weight: `Mul(Cast(codes), step)` as cbp writes it, or
 * `DequantizeLinear(codes, step)` as files from older cbp versions have it (docs/FORMAT.md).
 */
function codesOf(weight: string, producers: ReadonlyMap<string, NodeMsg>, inits: ReadonlyMap<string, TensorMsg>): TensorMsg | undefined {
  const node = producers.get(weight);
  if (node?.op_type === 'DequantizeLinear') {
    // An int8-activation file's packed INT2/INT4 codes reach the DequantizeLinear through a Cast to INT8 (onnx/int8.ts).
    const cast = producers.get(node.input[0]);
    return inits.get(node.input[0]) ?? (cast?.op_type === 'Cast' ? inits.get(cast.input[0]) : undefined);
  }
  if (node?.op_type !== 'Mul') return undefined;
  const cast = producers.get(node.input[0]);
  return cast?.op_type === 'Cast' ? inits.get(cast.input[0]) : undefined;
}

function codeBits(t: TensorMsg, file: string): 2 | 4 | 8 {
  const bits = CODE_BITS[t.data_type];
  if (bits === undefined) throw new CbpError(`${file}: '${t.name}' holds level codes as ONNX data type ${t.data_type}, expected INT2, INT4 or INT8`, 'BAD_ONNX');
  return bits;
}

/** The scale of each layer from the 'cbp.layers' metadata (a JSON list of {layer, scale}); null scales are left out. */
function layerScales(json: string, file: string): Map<string, number> {
  const notJson = new CbpError(`${file}: metadata 'cbp.layers' is not JSON`, 'BAD_ONNX');
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    throw notJson;
  }
  if (!Array.isArray(list)) throw notJson;
  const entries: readonly unknown[] = list;
  const scales = new Map<string, number>();
  for (const l of entries) {
    if (typeof l !== 'object' || l === null) throw notJson;
    if ('layer' in l && 'scale' in l && typeof l.layer === 'string' && typeof l.scale === 'number') scales.set(l.layer, l.scale);
  }
  return scales;
}

/**
 * A MatMulNBits layer (`--weights fast`, see packNBits): its 4-bit codes from B, checked against the node's K, N and
 * block_size; the layer is named by B's initializer, `${layer}.weight_nbits`.
 */
function nbitsLayer(node: NodeMsg, inits: ReadonlyMap<string, TensorMsg>, quant: Quant | undefined, scales: ReadonlyMap<string, number>, file: string): LayerInfo {
  const int = (name: string): number => {
    const v = node.attribute.find((a) => a.name === name)?.i;
    if (v === undefined || !Number.isSafeInteger(v) || v < 1) throw new CbpError(`${file}: MatMulNBits ${node.name} has no positive attribute ${name}`, 'BAD_ONNX');
    return v;
  };
  const k = int('K');
  const n = int('N');
  const block = int('block_size');
  const bits = node.attribute.find((a) => a.name === 'bits')?.i ?? 4;
  const b = inits.get(node.input[1]);
  const blob = (block * bits) / 8;
  const dims = [n, Math.ceil(k / block), blob];
  if (b === undefined || b.data_type !== DataType.UINT8 || b.dims.join(',') !== dims.join(',')) {
    throw new CbpError(`${file}: MatMulNBits ${node.name} needs a UINT8 initializer B of dims [${dims.join(', ')}] (K ${k}, N ${n}, block_size ${block}, bits ${bits})`, 'BAD_ONNX');
  }
  const layer = /^(.*)\.weight_nbits$/.exec(b.name)?.[1] ?? node.name;
  const stored = sizeOf(b.dims);
  // cbp writes 4-bit codes around the default zero point only; a foreign file's layer is listed without levels.
  const ours = quant !== undefined && bits === MATMUL_NBITS.bits && node.input.length === 3;
  return {
    layer,
    constraint: ours ? quant : 'none',
    scale: scales.get(layer) ?? null,
    weights: n * k,
    bitsPerWeight: bits,
    storage: 'matmulnbits',
    levels: ours ? CONSTRAINTS[quant].levels : [],
    counts: ours ? histogram(unpackNBits(b.raw_data ?? new Uint8Array(0), n, k, block), quant) : [],
    float32Bytes: n * k * 4,
    storedBytes: stored,
  };
}

function histogram(codes: Int8Array, quant: Quant): number[] {
  const allowed = levelCodes(quant);
  const counts = allowed.map(() => 0);
  for (const c of codes) {
    const i = allowed.indexOf(c);
    if (i >= 0) counts[i]++;
  }
  return counts;
}

/**
 * `cbp info` of an ONNX file or a checkpoint folder, told apart by their bytes: any other kind of file is refused
 * with what it is. A file of unknown bytes named .onnx goes to the ONNX reader, which says where it is damaged.
 */
export function inspect(file: string): ModelInfo {
  const k = fileKind(file);
  switch (k.kind) {
    case 'checkpoint':
    case 'folder':
      return inspectCheckpoint(file);
    case 'onnx':
    case 'cbp-onnx':
    case 'special':
      return inspectOnnx(file);
    case 'binary':
      if (namedOnnx(file)) return inspectOnnx(file);
      throw wrongFile('info', file, k);
    case 'pytorch-zip':
    case 'pytorch-legacy':
    case 'safetensors':
    case 'checkpoint-weights':
    case 'zip':
    case 'text':
    case 'empty':
    case 'missing':
      throw wrongFile('info', file, k);
  }
}

function inspectOnnx(file: string): ModelInfo {
  const {bytes} = readOnnx(file);
  return inspectOnnxBytes(bytes, file);
}

/** `cbp info` of ONNX bytes already in memory; `file` names them in errors. */
export function inspectOnnxBytes(bytes: Uint8Array, file: string): ModelInfo {
  const model = decodeOnnx(bytes, file);
  const meta = metadataOf(model);
  const quantName = meta['cbp.constraint'] ?? 'unknown';
  const quant = isQuant(quantName) ? quantName : undefined;
  const inits = new Map<string, TensorMsg>(model.graph.initializer.map((t) => [t.name, t]));
  const producers = new Map(model.graph.node.map((n) => [n.output[0], n]));
  const scales = layerScales(meta['cbp.layers'] ?? '[]', file);
  const int8File = meta['cbp.activations'] === 'int8';
  const inputChannels = model.graph.input[0]?.type.tensor_type.shape.dim[1];
  const paddedShare = (node: NodeMsg): number => {
    const dq = producers.get(node.input[0]);
    const q = dq?.op_type === 'DequantizeLinear' ? producers.get(dq.input[0]) : undefined;
    const pad = q?.op_type === 'QuantizeLinear' ? producers.get(q.input[0]) : q;
    const w = inits.get(node.input[1]) ?? inits.get(producers.get(node.input[1])?.input[0] ?? '');
    const c = inputChannels !== undefined && 'dim_value' in inputChannels ? inputChannels.dim_value : undefined;
    return pad?.op_type === 'Pad' && c !== undefined && w !== undefined && w.dims.length === 4 && w.dims[1] > c ? c / w.dims[1] : 1;
  };
  const layers: LayerInfo[] = [];
  let parameters = 0;
  // Parameters: float tensors other than dequantization constants, plus the coded weights of constrained layers.
  const constant = /(_step|_two_scale|_minus_scale|\.weight_scales)$/;
  // In an int8-activation file the scales and zero points of QuantizeLinear/DequantizeLinear are constants too, and
  // the INT32 biases behind a DequantizeLinear are parameters.
  const qdq = model.graph.node.filter((n) => n.op_type === 'QuantizeLinear' || n.op_type === 'DequantizeLinear');
  const quantConstants = new Set(qdq.flatMap((n) => n.input.slice(1)));
  for (const t of model.graph.initializer) if (t.data_type === DataType.FLOAT && !constant.test(t.name) && !quantConstants.has(t.name)) parameters += sizeOf(t.dims);
  if (int8File) for (const n of qdq) if (n.op_type === 'DequantizeLinear' && inits.get(n.input[0])?.data_type === DataType.INT32) parameters += sizeOf(inits.get(n.input[0])?.dims ?? []);
  for (const node of model.graph.node) {
    if (node.op_type === MATMUL_NBITS.op && node.domain === MATMUL_NBITS.domain) {
      const l = nbitsLayer(node, inits, quant, scales, file);
      layers.push(l);
      // Its weights are no float tensor: counted here when no constraint counts them below.
      if (l.constraint === 'none') parameters += l.weights;
      continue;
    }
    // A dense layer on tokens is MatMul(x, Transpose(weight)) (the dense kind's export): named after its weight.
    const transposed = node.op_type === 'MatMul' ? producers.get(node.input[1]) : undefined;
    const tokenLayer = transposed?.op_type === 'Transpose' ? /^(.+)\.weight$/.exec(transposed.input[0])?.[1] : undefined;
    if (node.op_type !== 'Conv' && node.op_type !== 'Gemm' && tokenLayer === undefined) continue;
    const layer = tokenLayer ?? node.name;
    const wName = tokenLayer !== undefined ? `${tokenLayer}.weight` : node.input[1];
    // An int8-activation file's weights come through DequantizeLinear of INT8 codes (codesOf), or of the bit
    // unpacking of binary ones, whose bytes are named after the DequantizeLinear's input (onnx/int8.ts).
    const dq = producers.get(wName)?.op_type === 'DequantizeLinear' ? producers.get(wName) : undefined;
    const base = dq?.input[0] ?? wName;
    const codesT = codesOf(wName, producers, inits);
    const bitsT = inits.get(`${base}_bits`);
    const shapeT = inits.get(`${base}_shape`);
    const runsOn = int8File ? {activations: dq !== undefined && producers.get(node.input[0])?.op_type === 'DequantizeLinear' ? 'int8' as const : 'float' as const} : {};
    if (bitsT !== undefined && shapeT !== undefined && quant !== undefined) {
      // Binary weights one bit each (see onnx/writer.ts): bit 1 is +s, bit 0 is −s.
      const raw = shapeT.raw_data ?? new Uint8Array(0);
      if (raw.length > 8 * 64) throw new CbpError(`${file}: '${wName}_shape' holds ${raw.length / 8} dimensions, expected at most 64`, 'BAD_ONNX');
      const dims = Array.from({length: Math.floor(raw.length / 8)}, (_, i) => Number(new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getBigInt64(i * 8, true)));
      const n = checkedSize(dims, `'${wName}_shape'`, file);
      const packed = bitsT.raw_data ?? new Uint8Array(0);
      if (packed.length * 8 < n) throw new CbpError(`${file}: '${wName}_bits' holds ${packed.length * 8} bits for ${n} weights`, 'BAD_ONNX');
      const codes = Int8Array.from({length: n}, (_, i) => ((packed[i >> 3] >> (i & 7)) & 1 ? 1 : -1));
      layers.push({layer, constraint: quant, scale: scales.get(layer) ?? null, weights: n, bitsPerWeight: 1, storage: 'bit1', levels: CONSTRAINTS[quant].levels, counts: histogram(codes, quant), float32Bytes: n * 4, storedBytes: Math.ceil(n / 8), ...runsOn});
      continue;
    }
    const t = codesT ?? inits.get(wName);
    if (t === undefined) continue;
    // A first convolution of an int8-activation file reads its input padded with zero channels (onnx/int8.ts): its
    // weights for those channels are padding, not parameters.
    const n = sizeOf(t.dims) * paddedShare(node);
    const bits = BITS[t.data_type] ?? 32;
    // In an int8-activation file every integer layer's weights are INT8 codes behind a DequantizeLinear; only the
    // constrained ones have a scale in cbp.layers.
    const dequantized = dq !== undefined;
    const constrained = codesT !== undefined && quant !== undefined && (!dequantized || scales.has(layer));
    if (constrained && (bits > 8 || (t.raw_data?.length ?? 0) < Math.ceil((n * bits) / 8))) {
      throw new CbpError(`${file}: codes '${t.name}' of layer ${layer} are not packed raw data of 2, 4 or 8 bits (data type ${t.data_type}, ${t.raw_data?.length ?? 0} bytes for ${n} codes)`, 'BAD_ONNX');
    }
    layers.push({
      layer,
      constraint: constrained ? (quant) : 'none',
      scale: scales.get(layer) ?? null,
      weights: n,
      bitsPerWeight: bits,
      storage: STORED[bits] ?? 'float32',
      levels: constrained ? CONSTRAINTS[quant].levels : [],
      counts: constrained ? histogram(unpackSigned(t.raw_data ?? new Uint8Array(0), n, codeBits(t, file)), quant) : [],
      float32Bytes: n * 4,
      storedBytes: Math.ceil((n * bits) / 8),
      ...runsOn,
    });
  }
  // Constrained weights are codes, not float tensors; so are the float layers rounded to INT8 in an int8-activation file.
  for (const l of layers) if (l.constraint !== 'none' || (l.activations === 'int8' && l.bitsPerWeight === 8)) parameters += l.weights;
  const opset = model.opset_import.find((o) => (o.domain ?? '') === '')?.version ?? 0;
  return summary(file, 'onnx', meta['cbp.model'] ?? model.graph.name, quantName, layers, parameters, bytes.length, readCard(meta, file, Number(opset)));
}

function inspectCheckpoint(dir: string): ModelInfo {
  return inspectLoadedCheckpoint(readCheckpoint(dir, 'checkpoint'));
}

/** `cbp info` of a checkpoint already read (`cbp serve` reads it once for the curves, histograms and this). */
export function inspectLoadedCheckpoint(ck: Checkpoint): ModelInfo {
  const dir = ck.dir;
  const {config} = ck.state;
  const spec = specOf(config);
  const weights = modelWeights(ck.tensors);
  const layers: LayerInfo[] = [];
  let parameters = 0;
  for (const info of paramInfos(spec, config.quant)) if (info.role !== 'scale') parameters += sizeOf(info.shape);
  for (const node of spec.nodes) {
    if (node.kind !== 'conv2d' && node.kind !== 'dense') continue;
    const w = weights.get(`${node.name}.weight`);
    if (w === undefined) continue;
    const n = w.data.length;
    const quant = node.constrained && config.quant !== 'none' ? config.quant : undefined;
    const scale = quant ? (weights.get(`${node.name}.scale`)?.data[0] ?? null) : null;
    const bits = quant ? STORAGE[CONSTRAINTS[quant].storage].bits : 32;
    layers.push({
      storage: quant ? CONSTRAINTS[quant].storage : 'float32',
      layer: node.name,
      constraint: quant ?? 'none',
      scale,
      weights: n,
      bitsPerWeight: bits,
      levels: quant ? CONSTRAINTS[quant].levels : [],
      counts: quant && scale !== null ? histogram(encodeLevels(w.data, scale, quant).codes, quant) : [],
      float32Bytes: n * 4,
      storedBytes: Math.ceil((n * bits) / 8),
    });
  }
  const card = checkpointCard(ck.state, spec);
  const view: CardView = {cardVersion: card.cardVersion, labels: card.labels, preprocessing: card.preprocessing, minOnnxRuntime: card.minOnnxRuntime, weights: card.weights, source: card.source, activations: null};
  return summary(dir, 'checkpoint', config.model, config.quant, layers, parameters, fs.statSync(path.join(dir, WEIGHTS_FILE)).size, view);
}

function summary(file: string, kind: ModelInfo['kind'], model: string, constraint: string, layers: LayerInfo[], parameters: number, bytesOnDisk: number, card: CardView): ModelInfo {
  const float32Bytes = parameters * 4;
  return {file, kind, model, constraint, layers, parameters, bytesOnDisk, float32Bytes, compression: float32Bytes / bytesOnDisk, card};
}
