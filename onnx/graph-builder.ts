import {AttributeType, DataType, ModelProto, type AttributeMsg, type ModelMsg, type NodeMsg, type TensorMsg, type ValueInfoMsg} from './schema';
import {CbpError} from '../src/core/errors';

import type {Attr, Ops} from '../models/kinds/index';

export type {Attr};

export function attribute(name: string, v: Attr): AttributeMsg {
  if (typeof v === 'string') return {name, type: AttributeType.STRING, s: Buffer.from(v)};
  if (typeof v === 'number') return {name, type: AttributeType.INT, i: v};
  if ('float' in v) return {name, type: AttributeType.FLOAT, f: v.float};
  return {name, type: AttributeType.INTS, ints: [...v]};
}

/** A small ONNX graph builder: fresh value names, shared constants, nodes in the order they are added. */
export class GraphBuilder implements Ops {
  readonly nodes: NodeMsg[] = [];
  readonly inits: TensorMsg[] = [];
  private count = 0;
  private readonly constants = new Map<string, string>();
  /**
   * While set, every node added reads its inputs through it (the training graph's backward pass reads forward
   * values through views that exist only once a gradient does: writeTrainGraph).
   */
  inputRewrite: ((name: string) => string) | undefined = undefined;

  private read(inputs: readonly string[]): string[] {
    const f = this.inputRewrite;
    return f === undefined ? [...inputs] : inputs.map(f);
  }

  fresh(prefix: string): string {
    return `${prefix}_${++this.count}`;
  }

  /** Adds a node with one output (named `name` when given) and returns the output's name. */
  op(type: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, name?: string): string {
    const out = name ?? this.fresh(type);
    this.nodes.push({name: out, op_type: type, input: this.read(inputs), output: [out], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v))});
    return out;
  }

  /** A node of another operator domain (e.g. ONNX Runtime's `com.microsoft.nchwc`), version 1; one output. */
  opIn(domain: string, type: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, name?: string): string {
    const out = name ?? this.fresh(type);
    this.nodes.push({name: out, op_type: type, domain, input: this.read(inputs), output: [out], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v))});
    return out;
  }

  /** Adds a node with several outputs. */
  opN(type: string, inputs: readonly string[], outputs: number, attrs: Record<string, Attr> = {}): string[] {
    const outs = Array.from({length: outputs}, () => this.fresh(type));
    this.nodes.push({name: outs[0], op_type: type, input: this.read(inputs), output: outs, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v))});
    return outs;
  }

  i64(values: readonly number[]): string {
    return this.constant(`i64:${values.join(',')}`, () => ({
      dims: [values.length],
      data_type: DataType.INT64,
      raw_data: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
    }));
  }

  /** An int64 constant of any shape, shared under `key` (which must determine the values). */
  i64Table(key: string, shape: readonly number[], values: BigInt64Array): string {
    return this.constant(`i64t:${key}`, () => ({dims: [...shape], data_type: DataType.INT64, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength)}));
  }

  /** A float32 constant of any shape, shared under `key` (which must determine the values). */
  f32Table(key: string, shape: readonly number[], values: Float32Array): string {
    return this.constant(`f32t:${key}`, () => ({dims: [...shape], data_type: DataType.FLOAT, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength)}));
  }

  /** A float32 constant: a scalar, or `shape` filled with the value. */
  f32(value: number, shape: readonly number[] = []): string {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.constant(`f32:${value}:${shape.join(',')}`, () => ({dims: [...shape], data_type: DataType.FLOAT, raw_data: new Uint8Array(new Float32Array(n).fill(value).buffer)}));
  }

  /** A float32 vector constant. */
  f32Vector(values: readonly number[]): string {
    return this.constant(`f32v:${values.join(',')}`, () => ({dims: [values.length], data_type: DataType.FLOAT, raw_data: new Uint8Array(Float32Array.from(values).buffer)}));
  }

  private constant(key: string, make: () => Omit<TensorMsg, 'name'>): string {
    const known = this.constants.get(key);
    if (known !== undefined) return known;
    const name = this.fresh('const');
    this.inits.push({name, ...make()});
    this.constants.set(key, name);
    return name;
  }

  model(name: string, inputs: ValueInfoMsg[], outputs: ValueInfoMsg[], opset: number, irVersion: number): Uint8Array {
    const model: ModelMsg = {
      ir_version: irVersion,
      opset_import: [{domain: '', version: opset}, ...[...new Set(this.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''))].map((domain) => ({domain, version: 1}))],
      producer_name: 'cbp',
      producer_version: '',
      graph: {name, node: this.nodes, initializer: this.inits, input: inputs, output: outputs},
      metadata_props: [],
    };
    const err = ModelProto.verify(model);
    if (err) throw new CbpError(`internal: ONNX graph ${name} does not fit the schema: ${err}`);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}

/** A value info with a symbolic batch dimension first (when `batch` is given) and fixed dims after it. */
export function valueInfo(name: string, elemType: number, dims: readonly number[], batch?: string): ValueInfoMsg {
  const dim = [...(batch === undefined ? [] : [{dim_param: batch}]), ...dims.map((d) => ({dim_value: d}))];
  return {name, type: {tensor_type: {elem_type: elemType, shape: {dim}}}};
}
