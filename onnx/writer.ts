import {CbpError} from '../src/core/errors';
import {sizeOf, type Tensor32, type Weights} from '../src/core/weights';
import {INPUT, kindOf, valueShapes, type ModelSpec, type Quant, type QuantOrNone} from '../models/spec';
import type {InferenceGraph, NodeBase, WeightLayer} from '../models/kinds/index';
import {GraphBuilder, attribute} from './graph-builder';
import {CONSTRAINTS} from '../src/cbp/registry';
import {codeStep, codeValues, codesFit, encodeLevels} from '../src/cbp/codes';
import {MATMUL_NBITS, PLAIN_STORAGE, STORAGE, nbitsBlockSize, nbitsPays, newerRuntime, packNBits, packSigned, packedType} from './codes';
import type {ActivationFacts} from './int8';
import {AttributeType, DataType, ModelProto, type AttributeMsg, type ModelMsg, type TensorMsg} from './schema';

/**
 * How constrained weights are stored: `auto` the registry's narrowest storage, `int2`/`int8` integer codes,
 * `float` float32 values, and `portable` the same float32 file named for what it is for: opset 13 with no
 * quantization operator, the form the onnx checker and other runtimes (OpenCV's DNN) accept (docs/DEPLOY.md).
 * `fast` writes constrained dense layers on features (one row per sample: nbitsPays in codes.ts) as ONNX Runtime's
 * MatMulNBits on 4-bit codes (MATMUL_NBITS), which computes from the packed weights on every run, faster than a float
 * product at small batches; every other layer, token-wise dense layers included, as `auto` stores it. An ONNX Runtime file only: other runtimes do not know the operator.
 */
export const WEIGHT_FORMATS = ['auto', 'int2', 'int8', 'float', 'portable', 'fast'] as const;
export type WeightFormat = (typeof WEIGHT_FORMATS)[number];

export interface LayerExport {
  readonly layer: string;
  readonly constrained: boolean;
  readonly storage: 'float32' | 'int8' | 'int4' | 'int2' | 'bit1' | 'matmulnbits';
  readonly bitsPerWeight: number;
  readonly weights: number;
  readonly scale?: number;
  readonly onMidpoint?: number;
}

export interface OnnxExport {
  readonly bytes: Uint8Array;
  readonly opset: number;
  readonly irVersion: number;
  readonly layers: readonly LayerExport[];
  /** The oldest ONNX Runtime release that loads the file (STORAGE and PLAIN_STORAGE in codes.ts). */
  readonly onnxruntime: string;
}

/** What the writer decided, for the model card: the layers' storage, the opset and the oldest runtime. */
export interface Written {
  readonly layers: readonly LayerExport[];
  readonly opset: number;
  readonly irVersion: number;
  readonly onnxruntime: string;
  /** Present when the file's activations are 8-bit (`--activations int8`, onnx/int8.ts). */
  readonly activations?: ActivationFacts;
}

/** The model card's text made from what was written (src/app/card.ts): metadata entries and the doc_string. */
export type Describe = (written: Written) => {readonly metadata: Record<string, string>; readonly docString: string};

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';

const attrInt = (name: string, i: number): AttributeMsg => ({name, type: AttributeType.INT, i});

function floatTensor(name: string, t: Tensor32): TensorMsg {
  return {name, dims: [...t.shape], data_type: DataType.FLOAT, raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)};
}

/**
 * Writes a ModelSpec and its weights as an ONNX model. Constrained layers store their level codes as the
 * registry's storage (one bit for binary, INT2 for ternary, INT4 for the others; INT8 with `int8`) and are restored
 * in-graph as Cast(codes → float) × one per-layer step, which ONNX Runtime folds at load; `float` stores the quantized values as float32. Other
 * layers stay float32. The batch dimension is symbolic.
 */
export function writeOnnx(spec: ModelSpec, quant: QuantOrNone, weights: Weights, format: WeightFormat, metadata: Record<string, string>, describe?: Describe): OnnxExport {
  const {model, ...written} = onnxModel(spec, quant, weights, format, metadata, describe);
  return {bytes: encodeModel(model, spec.name), ...written};
}

/** The ONNX model message encoded, after a check against the schema. */
export function encodeModel(model: ModelMsg, name: string): Uint8Array {
  const err = ModelProto.verify(model);
  if (err) throw new CbpError(`internal: ONNX model for ${name} does not fit the schema: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** `writeOnnx` before encoding: the model message and what was written. */
export function onnxModel(spec: ModelSpec, quant: QuantOrNone, weights: Weights, format: WeightFormat, metadata: Record<string, string>, describe?: Describe): Written & {readonly model: ModelMsg} {
  const ops = new GraphBuilder();
  const nodes = ops.nodes;
  const inits = ops.inits;
  const layers: LayerExport[] = [];
  if (format === 'int2' && quant !== 'none' && !codesFit(quant, 2)) {
    throw new CbpError(`--weights int2: ${quant} needs more than 2 bits per weight; use auto (${CONSTRAINTS[quant].storage}) or int8`);
  }
  const packed = quant === 'none' ? undefined : format === 'auto' || format === 'fast' ? packedType(CONSTRAINTS[quant].storage) : format === 'int2' ? packedType('int2') : undefined;
  const storage: LayerExport['storage'] = quant === 'none' || format === 'float' || format === 'portable' ? 'float32' : format === 'int8' ? 'int8' : (packed?.name ?? 'int8');
  const int64 = (name: string, values: readonly number[], dims: number[] = [values.length]): TensorMsg => ({
    name,
    dims,
    data_type: DataType.INT64,
    raw_data: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
  });
  const scalarF = (name: string, v: number): TensorMsg => ({name, dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(Float32Array.of(v).buffer)});
  /**
   * Binary weights at one bit each: bytes [m, 1] shifted right by 0..7 and masked give the bits (low bit first),
   * cast to float, cut to the weight's size and mapped to {−s, s} as bit·2s − s. Every input is constant, so
   * onnxruntime folds the whole chain into a float initializer when it loads the model.
   */
  const unpackBits = (key: string, codes: Int8Array, shape: readonly number[], scale: number): void => {
    // The shared constants, first of the initializers, once the first layer needs them (a `fast` file whose only
    // constrained layers are dense has none).
    if (!inits.some((t) => t.name === 'cbp.bit_one')) {
      inits.unshift({name: 'cbp.bit_shifts', dims: [1, 8], data_type: DataType.UINT8, raw_data: Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7)}, {name: 'cbp.bit_one', dims: [], data_type: DataType.UINT8, raw_data: Uint8Array.of(1)});
    }
    const n = codes.length;
    const m = Math.ceil(n / 8);
    const bytes = new Uint8Array(m);
    for (let i = 0; i < n; i++) if (codes[i] > 0) bytes[i >> 3] |= 1 << (i & 7);
    inits.push({name: `${key}_bits`, dims: [m, 1], data_type: DataType.UINT8, raw_data: bytes});
    inits.push(int64(`${key}_flat_shape`, [m * 8]), int64(`${key}_cut_start`, [0]), int64(`${key}_cut_end`, [n]), int64(`${key}_shape`, [...shape]));
    inits.push(scalarF(`${key}_two_scale`, Math.fround(2 * scale)), scalarF(`${key}_minus_scale`, -Math.fround(scale)));
    const op = (op_type: string, input: string[], output: string, attribute: AttributeMsg[] = []): void => {
      nodes.push({name: output, op_type, input, output: [output], attribute});
    };
    op('BitShift', [`${key}_bits`, 'cbp.bit_shifts'], `${key}_shifted`, [{name: 'direction', type: AttributeType.STRING, s: Buffer.from('RIGHT')}]);
    op('BitwiseAnd', [`${key}_shifted`, 'cbp.bit_one'], `${key}_bit`);
    op('Cast', [`${key}_bit`], `${key}_bitf`, [attrInt('to', DataType.FLOAT)]);
    op('Reshape', [`${key}_bitf`, `${key}_flat_shape`], `${key}_flat`);
    op('Slice', [`${key}_flat`, `${key}_cut_start`, `${key}_cut_end`], `${key}_cut`);
    op('Reshape', [`${key}_cut`, `${key}_shape`], `${key}_01`);
    op('Mul', [`${key}_01`, `${key}_two_scale`], `${key}_2s`);
    op('Add', [`${key}_2s`, `${key}_minus_scale`], key);
  };
  const get = (key: string): Tensor32 => {
    const t = weights.get(key);
    if (t === undefined) throw new CbpError(`cannot export ${spec.name}: weights have no '${key}'`);
    return t;
  };
  const out = (node: NodeBase): string => (node.name === spec.output ? OUTPUT_NAME : node.name);
  const src = (name: string): string => (name === INPUT ? INPUT_NAME : name === spec.output ? OUTPUT_NAME : name);

  let nbits = false;
  /**
   * `--weights fast`: y = x·Wᵀ (+ bias) of a constrained dense layer with one row per sample (nbitsPays) as one
   * MatMulNBits on its 4-bit codes, every block scaled by the layer's step (see MATMUL_NBITS); the bias, when there
   * is one, by an Add after it.
   */
  const packedDense = (node: WeightLayer, x: string, k: number, n: number, bias: boolean, rowsPerSample: number): boolean => {
    if (format !== 'fast' || quant === 'none' || !node.constrained || !nbitsPays(rowsPerSample)) return false;
    const key = `${node.name}.weight`;
    const w = get(key);
    if (sizeOf(w.shape) !== n * k) throw new CbpError(`cannot export ${spec.name}: '${key}' has ${sizeOf(w.shape)} values, expected ${n * k}`);
    const scale = get(`${node.name}.scale`).data[0];
    const {codes, onMidpoint} = encodeLevels(w.data, scale, quant);
    const step = codeStep(quant, scale);
    const block = nbitsBlockSize(k);
    const blocks = Math.ceil(k / block);
    inits.push({name: `${key}_nbits`, dims: [n, blocks, block / 2], data_type: DataType.UINT8, raw_data: packNBits(codes, n, k, block)});
    inits.push(floatTensor(`${key}_scales`, {shape: [n, blocks], data: new Float32Array(n * blocks).fill(step)}));
    const product = bias ? `${node.name}_product` : out(node);
    nodes.push({
      name: product,
      op_type: MATMUL_NBITS.op,
      domain: MATMUL_NBITS.domain,
      input: [x, `${key}_nbits`, `${key}_scales`],
      output: [product],
      attribute: [attrInt('K', k), attrInt('N', n), attrInt('bits', MATMUL_NBITS.bits), attrInt('block_size', block), attrInt('accuracy_level', MATMUL_NBITS.accuracyLevel)],
    });
    if (bias) {
      const b = `${node.name}.bias`;
      inits.push(floatTensor(b, get(b)));
      nodes.push({name: node.name, op_type: 'Add', input: [product, b], output: [out(node)], attribute: []});
    }
    layers.push({layer: node.name, constrained: true, storage: 'matmulnbits', bitsPerWeight: MATMUL_NBITS.bits, weights: n * k, scale, onMidpoint});
    nbits = true;
    return true;
  };

  const weightInput = (node: WeightLayer, count: number): string => {
    const key = `${node.name}.weight`;
    const w = get(key);
    if (sizeOf(w.shape) !== count) throw new CbpError(`cannot export ${spec.name}: '${key}' has ${sizeOf(w.shape)} values, expected ${count}`);
    if (!node.constrained || quant === 'none') {
      inits.push(floatTensor(key, w));
      layers.push({layer: node.name, constrained: false, storage: 'float32', bitsPerWeight: 32, weights: count});
      return key;
    }
    const scale = get(`${node.name}.scale`).data[0];
    const q: Quant = quant;
    const {codes, onMidpoint} = encodeLevels(w.data, scale, q);
    const step = codeStep(q, scale);
    if (storage === 'float32') {
      inits.push(floatTensor(key, {shape: w.shape, data: codeValues(codes, step)}));
      layers.push({layer: node.name, constrained: true, storage, bitsPerWeight: 32, weights: count, scale, onMidpoint});
      return key;
    }
    if (storage === 'bit1') {
      unpackBits(key, codes, w.shape, scale);
      layers.push({layer: node.name, constrained: true, storage, bitsPerWeight: 1, weights: count, scale, onMidpoint});
      return key;
    }
    const bits = storage === 'int8' ? 8 : storage === 'int2' ? 2 : 4;
    const type = storage === 'int8' ? DataType.INT8 : STORAGE[storage].type;
    inits.push({name: `${key}_codes`, dims: [...w.shape], data_type: type, raw_data: packSigned(codes, bits)});
    inits.push({name: `${key}_step`, dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(Float32Array.of(step).buffer)});
    // Cast and Mul, not DequantizeLinear: ONNX Runtime keeps DequantizeLinear on a constant out of constant folding
    // (for its QDQ fusions) unless a session sets session.disable_quant_qdq, so a stock session would dequantize on
    // every run; Cast + Mul of constants fold into a float initializer at load. float(code) × step is the same
    // float32 product DequantizeLinear computes with no zero point.
    nodes.push({name: `${key}_cast`, op_type: 'Cast', input: [`${key}_codes`], output: [`${key}_codesf`], attribute: [attrInt('to', DataType.FLOAT)]});
    nodes.push({name: `${key}_scale`, op_type: 'Mul', input: [`${key}_codesf`, `${key}_step`], output: [key], attribute: []});
    layers.push({layer: node.name, constrained: true, storage, bitsPerWeight: bits, weights: count, scale, onMidpoint});
    return key;
  };

  // Sub-byte storage needs newer opsets (STORAGE in codes.ts); float32 and INT8 codes (Cast of INT8) run from opset 13.
  const base = storage === 'float32' || storage === 'int8' ? PLAIN_STORAGE : STORAGE[storage];
  const {opset, irVersion} = base;
  const shapes = valueShapes(spec);
  const graph: InferenceGraph = {
    ops,
    opset,
    value: src,
    shape: (name) => shapes.get(name) ?? [],
    emit: (node, op_type, input, attrs = {}) => {
      nodes.push({name: node.name, op_type, input: [...input], output: [out(node)], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v))});
    },
    weight: weightInput,
    packedDense,
    param: (key) => {
      inits.push(floatTensor(key, get(key)));
      return key;
    },
  };
  for (const node of spec.nodes) kindOf(node).onnx(node, graph);
  // MatMulNBits (`fast`) adds ONNX Runtime's contrib domain and the release that brought it.
  const onnxruntime = nbits ? newerRuntime(base.onnxruntime, MATMUL_NBITS.onnxruntime) : base.onnxruntime;
  const [c, h, w] = spec.inputShape;
  const bare: ModelMsg = {
    ir_version: irVersion,
    opset_import: [{domain: '', version: opset}, ...(nbits ? [{domain: MATMUL_NBITS.domain, version: 1}] : [])],
    producer_name: 'cbp',
    producer_version: '',
    graph: {
      name: spec.name,
      node: nodes,
      initializer: inits,
      input: [{name: INPUT_NAME, type: {tensor_type: {elem_type: DataType.FLOAT, shape: {dim: [{dim_param: 'batch'}, {dim_value: c}, {dim_value: h}, {dim_value: w}]}}}}],
      output: [{name: OUTPUT_NAME, type: {tensor_type: {elem_type: DataType.FLOAT, shape: {dim: [{dim_param: 'batch'}, {dim_value: spec.numClasses}]}}}}],
    },
    metadata_props: [],
  };
  const model = described(bare, {layers, opset, irVersion, onnxruntime}, metadata, describe);
  return {model, opset, irVersion, layers, onnxruntime};
}

/**
 * A model with its card: the doc_string, the metadata (the caller's, the card's, and `cbp.layers`: each layer's
 * storage, bits and scale, and whether it runs on integer kernels when the file has int8 activations).
 */
export function described(model: ModelMsg, written: Written, metadata: Record<string, string>, describe?: Describe): ModelMsg {
  const card = describe?.(written);
  const integer = new Set(written.activations?.integerLayers ?? []);
  return {
    ...model,
    producer_version: metadata['cbp.version'] ?? card?.metadata['cbp.version'] ?? '',
    doc_string: card?.docString ?? '',
    metadata_props: Object.entries({
      ...metadata,
      ...card?.metadata,
      'cbp.layers': JSON.stringify(written.layers.map((l) => ({
        layer: l.layer, constrained: l.constrained, storage: l.storage, bits: l.bitsPerWeight, scale: l.scale ?? null,
        ...(written.activations !== undefined ? {activations: integer.has(l.layer) ? 'int8' : 'float'} : {}),
      }))),
    }).map(([key, value]) => ({key, value})),
  };
}
