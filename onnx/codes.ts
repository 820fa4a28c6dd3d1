import {LEVELS, segments} from '../src/cbp/levels';
import {CbpError} from '../src/errors';
import type {Quant} from '../models/spec';
import {DataType} from './schema';

/**
 * Each constraint's levels as small integers: level = code × unit, so that a layer's weights are the codes
 * times one per-layer step (unit × scale), which is exactly what DequantizeLinear computes.
 */
export const CODE_UNIT: Record<Quant, number> = {bin: 1, ter: 1, '1bit': 1 / 2, '2bit': 1 / 4};

export const INT2 = {type: DataType.INT2, bits: 2, name: 'int2'} as const;

/** The narrowest integer type onnxruntime runs DequantizeLinear on that holds every code of the constraint. */
export const PACKED_TYPE: Record<Quant, {type: number; bits: 1 | 2 | 4; name: 'bit1' | 'int2' | 'int4'}> = {
  // Binary weights are written one bit each and unpacked in-graph (see writer.ts); INT2 is the integer fallback.
  bin: {type: DataType.UINT8, bits: 1, name: 'bit1'},
  ter: INT2,
  '1bit': {type: DataType.INT4, bits: 4, name: 'int4'},
  '2bit': {type: DataType.INT4, bits: 4, name: 'int4'},
};

export function levelCodes(quant: Quant): number[] {
  return LEVELS[quant].map((l) => Math.round(l / CODE_UNIT[quant]));
}

export interface Coded {
  readonly codes: Int8Array;
  /** Latent weights exactly on a midpoint (the reference quantizes them halfway); they are coded one level up. */
  readonly onMidpoint: number;
}

/**
 * The level code of each latent weight under the reference quantizer: the number of midpoints the weight lies
 * above (compared in float32, as the forward pass compares them).
 */
export function encodeLevels(latent: Float32Array, scale: number, quant: Quant): Coded {
  const levels = LEVELS[quant];
  const codes = levelCodes(quant);
  const mids = segments(levels).mids.map((m) => Math.fround(m * scale));
  const out = new Int8Array(latent.length);
  let onMidpoint = 0;
  for (let i = 0; i < latent.length; i++) {
    const w = latent[i];
    let k = 0;
    for (const m of mids) {
      if (w > m) k++;
      else if (w === m) (k++, onMidpoint++);
    }
    out[i] = codes[k];
  }
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
