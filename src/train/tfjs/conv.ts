import {tf} from './tf';
import {withGradient2} from './custom-grad';
import {rank4} from './tensors';
import type {Pair} from '../../../models/spec';

/**
 * 2-D convolution (NHWC input, HWIO filter, symmetric zero padding as PyTorch's Conv2d) whose gradients are
 * themselves forward convolutions. The wasm backend has no Conv2DBackpropFilter and a slow Conv2DBackpropInput,
 * while its forward convolution (XNNPACK) is fast; expressed this way both gradients run near forward speed on
 * every backend.
 */
export function makeConv2d(stride: Pair, padding: Pair, inputGradNeeded = true): (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D {
  const [sh, sw] = stride;
  const [ph, pw] = padding;
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
  // With one input channel the convolution is a depthwise one (multiplier = output channels), which XNNPACK runs
  // about 1.5× faster on wasm than the same general convolution (LeNet-5's first layer).
  const forward = (x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D =>
    w.shape[2] === 1 && sh === sw ? tf.depthwiseConv2d(x, w, [sh, sw], pad) : tf.conv2d(x, w, [sh, sw], pad);
  return withGradient2(rank4, forward, (x, w, dy) => [
    // The image fed to the first layer needs no gradient; skipping it saves a full-size convolution.
    inputGradNeeded ? inputGrad(dy, w, x.shape, stride, padding) : tf.zerosLike(x),
    filterGrad(x, dy, w.shape, stride, padding),
  ]);
}

/** Inserts (s − 1) zeros between neighbouring rows and columns of dy, so a strided gradient becomes stride 1. */
function dilate(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape;
  let out: tf.Tensor4D = dy;
  if (sh > 1) {
    const spread = tf.pad(tf.reshape(out, [n, h, 1, w, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, 0]]);
    out = tf.slice(tf.reshape<tf.Rank.R4>(spread, [n, h * sh, w, c]), [0, 0, 0, 0], [n, (h - 1) * sh + 1, w, c]);
  }
  if (sw > 1) {
    const hh = out.shape[1];
    const spread = tf.pad(tf.reshape(out, [n, hh, w, 1, c]), [[0, 0], [0, 0], [0, 0], [0, sw - 1], [0, 0]]);
    out = tf.slice(tf.reshape<tf.Rank.R4>(spread, [n, hh, w * sw, c]), [0, 0, 0, 0], [n, hh, (w - 1) * sw + 1, c]);
  }
  return out;
}

/** Pads (positive) or crops (negative) each spatial side. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const padded = tf.pad(x, [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]]);
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return padded;
  const [n, h, w, c] = padded.shape;
  const t = Math.max(-top, 0);
  const l = Math.max(-left, 0);
  return tf.slice(padded, [0, t, l, 0], [n, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c]);
}

/** dL/dx as a full convolution of the (zero-inserted) dy with the 180°-rotated filter, in and out channels swapped. */
export function inputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: readonly number[], stride: Pair, padding: Pair): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = w.shape;
    const [, h, wd] = xShape;
    const [sh, sw] = stride;
    const [ph, pw] = padding;
    const extraH = (h + 2 * ph - kh) % sh;
    const extraW = (wd + 2 * pw - kw) % sw;
    const d = dilate(dy, sh, sw);
    const full = padOrCrop(d, kh - 1 - ph, kh - 1 - ph + extraH, kw - 1 - pw, kw - 1 - pw + extraW);
    const rotated = tf.transpose<tf.Tensor4D>(tf.reverse(w, [0, 1]), [0, 1, 3, 2]);
    return tf.conv2d<tf.Tensor4D>(full, rotated, 1, 'valid');
  });
}

/**
 * dL/dw as a convolution over the batch: the padded input with batch and channels swapped ([Cin, H, W, N]) is
 * convolved with dy as the filter ([OH, OW, N, Cout], dilated by the stride), giving [Cin, KH, KW, Cout].
 */
export function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: readonly number[], stride: Pair, padding: Pair): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = wShape;
    const [, oh, ow] = dy.shape;
    const [sh, sw] = stride;
    const [ph, pw] = padding;
    const usedH = (oh - 1) * sh + kh;
    const usedW = (ow - 1) * sw + kw;
    const padded = padOrCrop(x, ph, usedH - x.shape[1] - ph, pw, usedW - x.shape[2] - pw);
    const xt = tf.transpose<tf.Tensor4D>(padded, [3, 1, 2, 0]);
    const dyt = tf.transpose<tf.Tensor4D>(dy, [1, 2, 0, 3]);
    const g = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', [sh, sw]);
    return tf.transpose<tf.Tensor4D>(g, [1, 2, 0, 3]);
  });
}
