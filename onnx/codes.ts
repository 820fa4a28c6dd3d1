import {levelIndices} from '../src/cbp/levels';
import {CONSTRAINTS, QUANTS, levelCodes, type Quant, type Storage} from '../src/cbp/registry';
import {CbpError} from '../src/core/errors';
import {DataType} from './schema';

export {levelCodes};

/**
 * Each storage kind of the registry as ONNX sees it: the tensor type, bits per weight, opset and IR version, and the
 * oldest ONNX Runtime that runs it (the model card's `cbp.min_onnxruntime`): found by loading the files in older
 * releases (issue 17): the 1-bit graph needs 1.16, INT4 weights 1.23 (Cast from INT4: 1.22 has no kernel for it and
 * fails to load the file; DequantizeLinear of INT4 ran from 1.20), INT2 weights 1.24 (Cast and DequantizeLinear
 * from INT2 came together); older ones fail to load.
 */
export const STORAGE: Record<Storage, {readonly type: number; readonly bits: 1 | 2 | 4; readonly opset: number; readonly irVersion: number; readonly onnxruntime: string}> = {
  // One bit per weight as UINT8 bytes, unpacked in-graph with BitShift/BitwiseAnd (opset 18); see writer.ts.
  bit1: {type: DataType.UINT8, bits: 1, opset: 18, irVersion: 8, onnxruntime: '1.16'},
  // INT2 from opset 25 (IR 13), INT4 from opset 21 (IR 10).
  int2: {type: DataType.INT2, bits: 2, opset: 25, irVersion: 13, onnxruntime: '1.24'},
  int4: {type: DataType.INT4, bits: 4, opset: 21, irVersion: 10, onnxruntime: '1.23'},
};

/**
 * float32 weights, or INT8 codes cast to float and scaled: opset 13, IR 7, which ONNX Runtime runs from 1.6 on (its
 * compatibility table: 1.6 brought ONNX 1.8, opset 13), and which older converters and runtimes read too.
 */
export const PLAIN_STORAGE = {opset: 13, irVersion: 7, onnxruntime: '1.6'} as const;

/** How each constraint is stored, for help texts: `bin: 1 bit, ter: INT2, …`. */
export function storageHelp(): string {
  const name: Record<Storage, string> = {bit1: '1 bit per weight, unpacked in-graph', int2: 'INT2', int4: 'INT4'};
  return QUANTS.map((q) => `${q}: ${name[CONSTRAINTS[q].storage]}`).join(', ');
}

/** level = code × unit for each constraint (from the registry). */
export function codeUnit(quant: Quant): number {
  return CONSTRAINTS[quant].unit;
}

/** The registry's storage for a constraint, as an ONNX type. */
export function packedType(quant: Quant): {readonly type: number; readonly bits: 1 | 2 | 4; readonly name: Storage} {
  const name = CONSTRAINTS[quant].storage;
  return {...STORAGE[name], name};
}

/** Whether every code of the constraint fits in `bits` signed bits. */
export function codesFit(quant: Quant, bits: number): boolean {
  const codes = levelCodes(quant);
  return Math.min(...codes) >= -(1 << (bits - 1)) && Math.max(...codes) <= (1 << (bits - 1)) - 1;
}

export interface Coded {
  readonly codes: Int8Array;
  /** Latent weights exactly on a midpoint (the reference quantizes them halfway); they are coded one level up. */
  readonly onMidpoint: number;
}

/** The level code of each latent weight under the reference quantizer (see levelIndices). */
export function encodeLevels(latent: Float32Array, scale: number, quant: Quant): Coded {
  const codes = levelCodes(quant);
  const {index, onMidpoint} = levelIndices(latent, scale, CONSTRAINTS[quant].levels);
  const out = new Int8Array(latent.length);
  for (let i = 0; i < index.length; i++) out[i] = codes[index[i]];
  return {codes: out, onMidpoint};
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
