import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {Tensor32, Weights} from '../../../src/core/weights';
import {SpecBuilder} from '../../../models/builder';
import type {ModelSpec} from '../../../models/spec';
import {FIXTURES} from '../../helpers';

/** A tensor as the fixture scripts write it (test/fixtures/scripts/cbp_torch.py, tensor_json). */
export interface TensorJson {
  readonly shape: number[];
  readonly data: number[];
}

/**
 * The small values of one CBP step of an exported PyTorch module, as test/fixtures/scripts/make_onnx_step_reference.py
 * (`export_and_step`) writes them: the test fixtures beside their tensors as JSON, the torchvision matrix beside a
 * safetensors file.
 */
export interface StepMeta {
  quant: string;
  ucs: number;
  lr: number;
  weight_decay: number;
  seed: number;
  constrained: string[];
  labels: number[];
  loss: number;
  lagrangian: number;
  /** Per tensor: PyTorch's own step with its inputs moved by one float32 rounding, relative to the tensor's largest value. */
  sensitivity?: Record<string, number>;
  /** Per tensor: PyTorch's float32 step against the same step in float64, relative to the tensor's largest value. */
  float64_distance?: Record<string, number>;
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

/** test/fixtures/step_reference.json, made by make_step_reference.py: two steps of the reference's loop in PyTorch. */
export interface StepReference {
  quant: string;
  ucs: number;
  lr: number;
  weight_decay: number;
  classes: number;
  input_shape: [number, number, number];
  weights: Record<string, TensorJson>;
  lambda: Record<string, TensorJson>;
  momentum: Record<string, TensorJson>;
  steps: {x_nhwc: TensorJson; labels: number[]; loss: number; lagrangian: number; weights: Record<string, TensorJson>; momentum: Record<string, TensorJson>}[];
}

export function stepReference(): StepReference {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'step_reference.json'), 'utf8')) as StepReference;
}

/** The network of make_step_reference.py, node for node. */
export function tinyStepSpec(ref: StepReference): ModelSpec {
  const b = new SpecBuilder('tiny-step', ref.input_shape);
  b.conv('conv1', 2, 4, 3, {padding: 1, bias: true, constrained: false});
  b.bn('bn1', 4);
  b.relu('relu1');
  b.maxpool('pool1', 2, 2);
  b.conv('conv2', 4, 6, 3, {padding: 1, constrained: true});
  b.bn('bn2', 6);
  b.relu('relu2');
  b.flatten('flatten');
  b.dense('fc1', 54, 8, {constrained: true});
  b.relu('relu3');
  b.dense('fc2', 8, ref.classes, {bias: true, constrained: false});
  return b.build(ref.classes);
}
