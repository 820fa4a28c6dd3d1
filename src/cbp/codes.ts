import {levelIndices} from './levels';
import {CONSTRAINTS, levelCodes, type Quant} from './registry';

/** A constrained layer's latent weights as level codes (level = code × the constraint's unit). */
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

/** The value of one code of a layer, in float32: the constraint's code unit times the layer's scale. */
export function codeStep(quant: Quant, scale: number): number {
  return Math.fround(CONSTRAINTS[quant].unit * scale);
}

/**
 * A constrained layer's weights as an export stores them, code × step, into `out` — the one place this product is
 * taken (the float export, the ONNX Runtime engine's evaluation). A plain loop: Float32Array.from with a mapping
 * function goes through the iterator protocol, ~30× slower (3 s of a ResNet-18 export).
 */
export function codeValues(codes: Int8Array, step: number, out: Float32Array = new Float32Array(codes.length)): Float32Array {
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] * step;
  return out;
}

/** A constrained layer's latent weights as the float export stores them (a weight exactly on a midpoint coded one level up), into `out`. */
export function storedValues(latent: Float32Array, scale: number, quant: Quant, out?: Float32Array): Float32Array {
  return codeValues(encodeLevels(latent, scale, quant).codes, codeStep(quant, scale), out);
}

/** Whether every level code of the constraint fits in `bits` signed bits (−2^(bits−1) … 2^(bits−1) − 1). */
export function codesFit(quant: Quant, bits: number): boolean {
  const codes = levelCodes(quant);
  return Math.min(...codes) >= -(1 << (bits - 1)) && Math.max(...codes) <= (1 << (bits - 1)) - 1;
}
