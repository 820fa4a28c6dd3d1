import {CbpError} from '../src/core/errors';
import {DataType} from './schema';

/**
 * Each storage kind of the registry as ONNX sees it: the tensor type, bits per weight, opset and IR version, and the
 * oldest ONNX Runtime that runs it (the model card's `cbp.min_onnxruntime`): found by loading the files in older
 * releases (issue 17): the 1-bit graph needs 1.16, INT4 weights 1.23 (Cast from INT4: 1.22 has no kernel for it and
 * fails to load the file; DequantizeLinear of INT4 ran from 1.20), INT2 weights 1.24 (Cast and DequantizeLinear
 * from INT2 came together); older ones fail to load. Keyed by the names the constraint registry gives its storage
 * kinds (`Storage` of src/cbp/registry.ts, which this file does not import): where the writer and export look a
 * constraint's storage up here, the compiler checks each of those names has an entry. `help` names it in help texts.
 */
export const STORAGE = {
  // One bit per weight as UINT8 bytes, unpacked in-graph with BitShift/BitwiseAnd (opset 18); see writer.ts.
  bit1: {type: DataType.UINT8, bits: 1, opset: 18, irVersion: 8, onnxruntime: '1.16', help: '1 bit per weight, unpacked in-graph'},
  // INT2 from opset 25 (IR 13), INT4 from opset 21 (IR 10).
  int2: {type: DataType.INT2, bits: 2, opset: 25, irVersion: 13, onnxruntime: '1.24', help: 'INT2'},
  int4: {type: DataType.INT4, bits: 4, opset: 21, irVersion: 10, onnxruntime: '1.23', help: 'INT4'},
} as const satisfies Record<string, {readonly type: number; readonly bits: 1 | 2 | 4; readonly opset: number; readonly irVersion: number; readonly onnxruntime: string; readonly help: string}>;

/** A storage kind of packed level codes: `bit1`, `int2`, `int4`. */
export type StorageName = keyof typeof STORAGE;

/**
 * float32 weights, or INT8 codes cast to float and scaled: opset 13, IR 7, which ONNX Runtime runs from 1.6 on (its
 * compatibility table: 1.6 brought ONNX 1.8, opset 13), and which older converters and runtimes read too.
 */
export const PLAIN_STORAGE = {opset: 13, irVersion: 7, onnxruntime: '1.6'} as const;

/**
 * `--weights fast`: constrained dense layers as ONNX Runtime's contrib operator `com.microsoft` MatMulNBits
 * (docs/ContribOperators.md in onnxruntime): 4-bit codes q, dequantized as (q − 8)·scale per block of K, 8 being its
 * zero point when no zero_points input is given. A constraint's level codes are within ±7 (`codesFit(quant, 4)`), so
 * q = code + 8 holds them exactly and every block's scale is the layer's step: the file's products equal the float
 * export's up to float32 summation order. accuracy_level 0 keeps the arithmetic in float32 (level 4 quantizes the
 * activations to int8 per block: faster, not exact; not offered). The operator came with ONNX Runtime 1.17
 * (microsoft/onnxruntime#17890, its first release holding it); 1.30 is the only release measured here.
 */
export const MATMUL_NBITS = {domain: 'com.microsoft', op: 'MatMulNBits', bits: 4, zeroPoint: 8, accuracyLevel: 0, onnxruntime: '1.17'} as const;

/**
 * Which constrained dense layers `--weights fast` writes as MatMulNBits: those with one row per sample (features
 * [N, C]), whose product is matrix-vector at batch 1, bound by reading the weights, where 4-bit weights measured
 * faster than float (AlexNet's classifier). A token-wise layer ([N, T, C], T > 1 rows per sample: a vision
 * transformer's) multiplies a matrix of T rows even at batch 1, bound by arithmetic, where MatMulNBits at
 * accuracy_level 0 measured slower than the float product (docs/DEPLOY.md); it keeps the constraint's `auto`
 * storage, which ONNX Runtime unpacks to float weights at load.
 */
export function nbitsPays(rowsPerSample: number): boolean {
  return rowsPerSample === 1;
}

/** Block sizes MatMulNBits takes (powers of two from 16), largest first. */
const NBITS_BLOCKS = [128, 64, 32, 16] as const;

/**
 * The block along K that makes the smallest layer: K rounded up to whole blocks at 4 bits a weight, plus one float32
 * scale per block (4.25 bits a weight at 128, 5 at 32), the larger block on a tie. The kernel ran as fast or 10–20%
 * faster at 64 and 128 than at 32 on AlexNet's layers. 9216 and 4096 (AlexNet) take 128, 800 (LeNet-5) 64, 100 takes
 * 128 (28 padded), 25 takes 32 (7 padded).
 */
export function nbitsBlockSize(k: number): number {
  const bits = (b: number): number => Math.ceil(k / b) * (b * MATMUL_NBITS.bits + 32);
  let best: number = NBITS_BLOCKS[0];
  for (const b of NBITS_BLOCKS) if (bits(b) < bits(best)) best = b;
  return best;
}

/**
 * A dense weight's level codes ([N, K], PyTorch's [out, in]) as MatMulNBits's B: [N, ceil(K / block), block / 2]
 * bytes, q = code + 8, two per byte along K, the first in the low nibble. The padding past K in the last block holds
 * the zero point (q = 8, weight 0), so it adds nothing whatever the kernel does with it.
 */
export function packNBits(codes: Int8Array, n: number, k: number, block: number): Uint8Array {
  if (codes.length !== n * k) throw new CbpError(`internal: ${codes.length} codes for a [${n}, ${k}] weight`);
  const blocks = Math.ceil(k / block);
  const row = (blocks * block) / 2;
  const zero = MATMUL_NBITS.zeroPoint;
  const out = new Uint8Array(n * row).fill(zero | (zero << 4));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const c = codes[i * k + j];
      if (c < -7 || c > 7) throw new CbpError(`code ${c} does not fit MatMulNBits's 4 bits (−7..7 around its zero point 8)`);
      const at = i * row + (j >> 1);
      out[at] = j & 1 ? (out[at] & 0x0f) | ((c + zero) << 4) : (out[at] & 0xf0) | (c + zero);
    }
  }
  return out;
}

/** The level codes of MatMulNBits's B (see packNBits), [N, K]. */
export function unpackNBits(bytes: Uint8Array, n: number, k: number, block: number): Int8Array {
  const row = (Math.ceil(k / block) * block) / 2;
  const out = new Int8Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) out[i * k + j] = ((bytes[i * row + (j >> 1)] >> (4 * (j & 1))) & 0x0f) - MATMUL_NBITS.zeroPoint;
  }
  return out;
}

/** The newer of two release versions (`1.17`, `1.24`), compared number by number. */
export function newerRuntime(a: string, b: string): string {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0 ? a : b;
  }
  return a;
}

/** A storage kind as an ONNX type, with its name. */
export function packedType(name: StorageName): {readonly type: number; readonly bits: 1 | 2 | 4; readonly name: StorageName} {
  return {...STORAGE[name], name};
}

/** Packs signed codes into `bits`-wide fields, low bits first within each byte (ONNX's INT4/INT2 layout). */
export function packSigned(codes: Int8Array, bits: 2 | 4 | 8): Uint8Array {
  if (bits === 8) return new Uint8Array(codes.buffer.slice(codes.byteOffset, codes.byteOffset + codes.byteLength));
  const per = 8 / bits;
  const mask = (1 << bits) - 1;
  const lo = -(1 << (bits - 1));
  const hi = (1 << (bits - 1)) - 1;
  const out = new Uint8Array(Math.ceil(codes.length / per));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c < lo || c > hi) throw new CbpError(`code ${c} does not fit in ${bits} signed bits`);
    out[(i / per) | 0] |= (c & mask) << (bits * (i % per));
  }
  return out;
}

export function unpackSigned(bytes: Uint8Array, count: number, bits: 2 | 4 | 8): Int8Array {
  const out = new Int8Array(count);
  if (bits === 8) {
    out.set(new Int8Array(bytes.buffer, bytes.byteOffset, count));
    return out;
  }
  const per = 8 / bits;
  const mask = (1 << bits) - 1;
  const sign = 1 << (bits - 1);
  for (let i = 0; i < count; i++) {
    const v = (bytes[(i / per) | 0] >> (bits * (i % per))) & mask;
    out[i] = v & sign ? v - (1 << bits) : v;
  }
  return out;
}
