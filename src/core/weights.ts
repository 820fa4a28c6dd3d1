/** Weights as they travel between interpreters: name → shape + float32 data, in PyTorch's layout (OIHW, [out, in]). */
export interface Tensor32 {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export type Weights = Map<string, Tensor32>;

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
