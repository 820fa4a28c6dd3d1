import {tf} from './tf';
import type {ParamInfo} from '../../../models/spec';

/**
 * PyTorch keeps convolution weights as OIHW and dense weights as [out, in]; the training interpreter holds them
 * as HWIO and [in, out], the layouts tfjs's fast kernels take without a transpose (on wasm a matMul with a
 * transposed operand runs ~10× slower than a plain one). Only src/train sees these layouts.
 */
export function toTfjs(info: ParamInfo, t: tf.Tensor): tf.Tensor {
  if (info.role !== 'weight') return t;
  return info.shape.length === 4 ? tf.transpose(t, [2, 3, 1, 0]) : tf.transpose(t, [1, 0]);
}

/** Always a new tensor (a copy where the layouts agree), so callers may dispose what they get. */
export function fromTfjs(info: ParamInfo, t: tf.Tensor): tf.Tensor {
  if (info.role !== 'weight') return tf.clone(t);
  return info.shape.length === 4 ? tf.transpose(t, [3, 2, 0, 1]) : tf.transpose(t, [1, 0]);
}
