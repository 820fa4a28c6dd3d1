import * as fs from 'node:fs';
import * as path from 'node:path';
import {Rng} from '../src/core/rng';
import {ModelProto} from '../onnx/schema';

/**
 * ONNX graphs written by hand for the importer's tests, as the plain objects protobufjs encodes (ModelProto's fields:
 * onnx/schema.ts): tensors, value infos, attributes, and a small image classifier around a body of nodes under test.
 * Only what torch.onnx.export would write is built here; the files are what a test imports or refuses.
 */

/** A float32 tensor's dims and values. */
export interface FloatValues {
  readonly dims: number[];
  readonly values: number[];
}
export type Floats = Record<string, FloatValues>;

/** A node as the plain object ModelProto encodes. */
export interface OnnxNodeJson {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute?: object[];
}

/** ONNX's TensorProto.DataType and AttributeProto.AttributeType numbers the builders write. */
const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

export function floatTensor(name: string, dims: number[], values: readonly number[]): object {
  return {name, dims, data_type: FLOAT, raw_data: Buffer.from(Float32Array.from(values).buffer)};
}

/** Every entry of `floats` as a float32 initializer, in their order. */
export function floatTensors(floats: Floats): object[] {
  return Object.entries(floats).map(([n, t]) => floatTensor(n, t.dims, t.values));
}

/** An int64 initializer, one-dimensional unless `dims` says otherwise. */
export function int64Tensor(name: string, values: readonly number[], dims: number[] = [values.length]): object {
  return {name, dims, data_type: INT64, raw_data: Buffer.from(BigInt64Array.from(values.map(BigInt)).buffer)};
}

/** A float32 initializer of standard normal values drawn from `rng`. */
export function randomTensor(rng: Rng, name: string, dims: number[]): object {
  return floatTensor(name, dims, Array.from({length: dims.reduce((a, b) => a * b, 1)}, () => rng.normal()));
}

/** A float32 graph input or output; a string dimension is symbolic (the batch). */
export function valueInfo(name: string, dims: readonly (number | string)[]): object {
  return {name, type: {tensor_type: {elem_type: FLOAT, shape: {dim: dims.map((d) => (typeof d === 'string' ? {dim_param: d} : {dim_value: d}))}}}};
}

export const intAttr = (name: string, value: number): object => ({name, type: ATTR_INT, i: value});
export const intsAttr = (name: string, values: number[]): object => ({name, type: ATTR_INTS, ints: values});
export const stringAttr = (name: string, value: string): object => ({name, type: ATTR_STRING, s: Buffer.from(value)});

/** `graph` as an ONNX file (IR 8, the default domain at `opset`) at `file`. */
export function writeModel(file: string, graph: object, opset = 13): string {
  fs.writeFileSync(file, ModelProto.encode(ModelProto.fromObject({ir_version: 8, opset_import: [{domain: '', version: opset}], graph})).finish());
  return file;
}

/** The classifier's end: GlobalAveragePool of `from`, Flatten, and the Gemm by `fc.weight` [3, C] to the logits. */
export function poolAndClassify(from: string): OnnxNodeJson[] {
  return [
    {name: '/pool/GlobalAveragePool', op_type: 'GlobalAveragePool', input: [from], output: ['p']},
    {name: '/Flatten', op_type: 'Flatten', input: ['p'], output: ['f']},
    {name: '/fc/Gemm', op_type: 'Gemm', input: ['f', 'fc.weight', 'fc.bias'], output: ['logits'], attribute: [intAttr('transB', 1)]},
  ];
}

/** How the hand-made classifier's convolution and random weights are made. */
export interface Classifier {
  /** Output channels of the 1×1 convolution `/conv/Conv` (value `c`). */
  readonly channels: number;
  /** Whether the convolution has a bias, `conv.bias`. */
  readonly convBias: boolean;
  /** Seed of the random `conv.*` and `fc.*` weights (drawn in that order). */
  readonly seed: number;
  readonly opset?: number;
}

/**
 * A 1×4×4 image classifier into 3 classes written to `${dir}/${name}.onnx`: a 1×1 Conv to `c`, then `body` (which
 * writes `a`), pooling and a Gemm; `initializers` (the body's constants) follow the random weights.
 */
export function handMadeClassifier(dir: string, name: string, body: readonly object[], initializers: readonly object[], c: Classifier): string {
  const rng = new Rng(c.seed);
  const conv = ['conv.weight', ...(c.convBias ? ['conv.bias'] : [])];
  const graph = {
    name,
    node: [
      {name: '/conv/Conv', op_type: 'Conv', input: ['input', ...conv], output: ['c'], attribute: [intsAttr('kernel_shape', [1, 1])]},
      ...body,
      ...poolAndClassify('a'),
    ],
    initializer: [
      randomTensor(rng, 'conv.weight', [c.channels, 1, 1, 1]),
      ...(c.convBias ? [randomTensor(rng, 'conv.bias', [c.channels])] : []),
      randomTensor(rng, 'fc.weight', [3, c.channels]),
      randomTensor(rng, 'fc.bias', [3]),
      ...initializers,
    ],
    input: [valueInfo('input', ['N', 1, 4, 4])],
    output: [valueInfo('logits', ['N', 3])],
  };
  return writeModel(path.join(dir, `${name}.onnx`), graph, c.opset);
}
