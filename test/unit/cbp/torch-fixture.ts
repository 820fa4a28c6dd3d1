import * as assert from 'node:assert/strict';
import type {Tensor32, Weights} from '../../../src/core/weights';

/** A tensor as the fixture scripts write it (test/fixtures/scripts/cbp_torch.py, tensor_json). */
export interface TensorJson {
  readonly shape: number[];
  readonly data: number[];
}

export function tensor32(t: TensorJson): Tensor32 {
  return {shape: t.shape, data: Float32Array.from(t.data)};
}

export function weightsOf(tensors: Record<string, TensorJson>, prefix = ''): Weights {
  return new Map(Object.entries(tensors).map(([k, t]) => [prefix + k, tensor32(t)]));
}

/**
 * Asserts every element of `actual` is within `rel` times the largest |expected| of PyTorch's value. Relative to the
 * largest rather than to each element: PyTorch and tfjs sum in different orders, and an element near 0 carries the
 * absolute rounding noise of the larger values it was computed from.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let largest = 1e-12;
  for (let i = 0; i < expected.length; i++) largest = Math.max(largest, Math.abs(expected[i]));
  let worst = 0;
  let at = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  assert.ok(worst <= rel * largest, `${what}: element ${at} is ${actual[at]}, PyTorch ${expected[at]} (off by ${worst}, allowed ${rel * largest})`);
}
