import {CbpError} from '../src/core/errors';
import {quoted} from '../src/core/shown';
import {DataType, type TensorMsg} from './schema';

/** Bits per element of the data types whose raw bytes cbp may read; others are left to ONNX Runtime. */
const BITS: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 32,
  [DataType.UINT8]: 8,
  [DataType.INT8]: 8,
  [DataType.INT32]: 32,
  [DataType.INT64]: 64,
  [DataType.UINT4]: 4,
  [DataType.INT4]: 4,
  [DataType.UINT2]: 2,
  [DataType.INT2]: 2,
  9: 8, // BOOL
  10: 16, // FLOAT16
  11: 64, // DOUBLE
  16: 16, // BFLOAT16
};

/** The field of TensorProto that holds a type's values when raw_data does not (onnx/onnx.proto). */
const TYPED_FIELD: Readonly<Record<number, 'float_data' | 'int32_data' | 'int64_data'>> = {
  [DataType.FLOAT]: 'float_data',
  [DataType.INT64]: 'int64_data',
  [DataType.INT32]: 'int32_data',
  [DataType.UINT8]: 'int32_data',
  [DataType.INT8]: 'int32_data',
  4: 'int32_data', // UINT16
  5: 'int32_data', // INT16
  9: 'int32_data', // BOOL
  10: 'int32_data', // FLOAT16
  16: 'int32_data', // BFLOAT16
  [DataType.UINT4]: 'int32_data',
  [DataType.INT4]: 'int32_data',
  [DataType.UINT2]: 'int32_data',
  [DataType.INT2]: 'int32_data',
};

/** The most elements one tensor may claim (8 GiB of float32 would not fit ONNX's own 2 GiB limit either). */
export const MAX_ELEMENTS = 2 ** 31;

/** The elements of `dims`, each checked as a non-negative safe integer, the product bounded as it grows. */
export function checkedSize(dims: readonly number[], what: string, file: string): number {
  let n = 1;
  for (const [i, d] of dims.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) throw new CbpError(`${file}: ${what} has dimension ${i} = ${d}, expected a non-negative integer`, 'BAD_ONNX');
    n *= d;
    if (n > MAX_ELEMENTS) throw new CbpError(`${file}: ${what} [${dims.join(', ')}] claims more than ${MAX_ELEMENTS} elements`, 'BAD_ONNX');
  }
  return n;
}

/** Checks an initializer's dims and that its data holds exactly the elements they claim, before anything reads it. */
export function checkTensor(t: TensorMsg, file: string): number {
  const what = `tensor ${quoted(t.name)}`;
  if (t.dims.length > 64) throw new CbpError(`${file}: ${what} has ${t.dims.length} dimensions, expected at most 64`, 'BAD_ONNX');
  const n = checkedSize(t.dims, what, file);
  const raw = t.raw_data?.length ?? 0;
  const bits = BITS[t.data_type];
  if (raw > 0 && bits !== undefined && raw !== Math.ceil((n * bits) / 8)) {
    throw new CbpError(`${file}: ${what} [${t.dims.join(', ')}] needs ${Math.ceil((n * bits) / 8)} bytes of raw data, holds ${raw}`, 'BAD_ONNX');
  }
  // The values once: in raw_data, or in the one typed field of the tensor's type, never in two disagreeing places.
  const fields = {float_data: t.float_data?.length ?? 0, int32_data: t.int32_data?.length ?? 0, int64_data: t.int64_data?.length ?? 0};
  const own = TYPED_FIELD[t.data_type];
  for (const [field, count] of Object.entries(fields)) {
    if (count === 0) continue;
    if (raw > 0) throw new CbpError(`${file}: ${what} holds its values twice, in raw_data and in ${field}`, 'BAD_ONNX');
    if (field !== own) throw new CbpError(`${file}: ${what} is of data type ${t.data_type} but holds values in ${field}${own === undefined ? '' : `, not ${own}`}`, 'BAD_ONNX');
  }
  const typed = t.data_type === DataType.FLOAT ? (t.float_data?.length ?? 0) : t.data_type === DataType.INT64 ? (t.int64_data?.length ?? 0) : undefined;
  if (raw === 0 && typed !== undefined && typed !== n) throw new CbpError(`${file}: ${what} [${t.dims.join(', ')}] holds ${typed} values, expected ${n}`, 'BAD_ONNX');
  return n;
}
