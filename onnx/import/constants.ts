import {CbpError} from '../../src/core/errors';
import {quoted, shown} from '../../src/core/shown';
import {DataType, type AttributeMsg, type TensorMsg} from '../schema';
import {BATCH, type OnnxConst} from '../../models/kinds/index';
import {checkTensor} from '../tensor-check';

// The symbolic batch size and the constants are declared with the interface the node kinds map ONNX nodes through.
export {BATCH};
export type Elem = number | typeof BATCH;

/**
 * A value known when the model is imported: an initializer, a Constant, or what a chain of shape arithmetic
 * computes from them and from static shapes. Integers (int64, int32, bool) may hold the symbolic batch size.
 */
export type Const = OnnxConst;

/** The most elements an integer tensor may have: shape arithmetic needs a handful, not millions. */
export const MAX_INT_ELEMENTS = 1 << 16;

const DOUBLE = 11;
const BOOL = 9;
const TYPE_NAMES: Readonly<Record<number, string>> = {1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 16: 'bfloat16'};

export const typeName = (t: number): string => TYPE_NAMES[t] ?? `data type ${t}`;

/** A copy of `bytes` on its own aligned buffer, so typed views of it are safe. */
function aligned(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy.buffer;
}

/**
 * A tensor's values (after checkTensor has matched its dims to its data): float32 and float64 as float32,
 * int64, int32 and bool as integers (at most MAX_INT_ELEMENTS). Any other type is refused naming the tensor.
 */
export function readConst(t: TensorMsg, file: string, what: string): Const {
  const n = checkTensor(t, file);
  const dims = [...t.dims];
  const raw = t.raw_data !== undefined && t.raw_data !== null && t.raw_data.length > 0 ? t.raw_data : undefined;
  const fail = (why: string): never => {
    throw new CbpError(`${file}: ${what} ${quoted(t.name)} ${why}`, 'BAD_ONNX');
  };
  if (t.data_type === DataType.FLOAT) {
    if (raw !== undefined) return {kind: 'float', dims, values: new Float32Array(aligned(raw))};
    return {kind: 'float', dims, values: Float32Array.from(t.float_data ?? [])};
  }
  if (t.data_type === DOUBLE) {
    // float64 values live in double_data (field 10), which cbp's schema does not read: raw data only.
    if (raw === undefined || raw.length !== n * 8) fail(`is float64 without its ${n} values as raw data`);
    return {kind: 'float', dims, values: Float32Array.from(new Float64Array(aligned(raw ?? new Uint8Array(0))))};
  }
  if (t.data_type !== DataType.INT64 && t.data_type !== DataType.INT32 && t.data_type !== BOOL) fail(`is ${typeName(t.data_type)}; cbp imports float32 weights and int64/int32 shapes`);
  if (n > MAX_INT_ELEMENTS) fail(`holds ${n} integers; a shape holds at most ${MAX_INT_ELEMENTS}`);
  let values: number[];
  if (raw !== undefined) {
    const bytes = t.data_type === DataType.INT64 ? 8 : t.data_type === DataType.INT32 ? 4 : 1;
    if (raw.length !== n * bytes) fail(`[${dims.join(', ')}] needs ${n * bytes} bytes of raw data, holds ${raw.length}`);
    const view = new DataView(aligned(raw));
    values = Array.from({length: n}, (_, i) => (bytes === 8 ? Number(view.getBigInt64(i * 8, true)) : bytes === 4 ? view.getInt32(i * 4, true) : view.getUint8(i)));
  } else {
    values = t.data_type === DataType.INT64 ? [...(t.int64_data ?? [])] : [...(t.int32_data ?? [])];
    if (values.length !== n) fail(`[${dims.join(', ')}] holds ${values.length} values, expected ${n}`);
  }
  return {kind: 'int', dims, values};
}

/** The value of a Constant node: its `value` tensor or one of value_float(s) / value_int(s). */
export function constantOf(attrs: readonly AttributeMsg[], node: string, file: string): Const {
  const a = attrs.find((x) => x.name.startsWith('value'));
  const fail = (why: string): never => {
    throw new CbpError(`${file}: Constant ${quoted(node)} ${why}`, 'BAD_ONNX');
  };
  if (a === undefined) return fail('has no value');
  if (a.name === 'value' && a.t) return readConst(a.t, file, `the value of Constant ${quoted(node)}`);
  if (a.name === 'value_float') return {kind: 'float', dims: [], values: Float32Array.of(a.f ?? 0)};
  if (a.name === 'value_floats') return {kind: 'float', dims: [a.floats?.length ?? 0], values: Float32Array.from(a.floats ?? [])};
  if (a.name === 'value_int') return {kind: 'int', dims: [], values: [a.i ?? 0]};
  if (a.name === 'value_ints') {
    const ints = a.ints ?? [];
    if (ints.length > MAX_INT_ELEMENTS) fail(`holds ${ints.length} integers; a shape holds at most ${MAX_INT_ELEMENTS}`);
    return {kind: 'int', dims: [ints.length], values: [...ints]};
  }
  return fail(`has a ${shown(a.name, 40)}, which cbp does not read`);
}
