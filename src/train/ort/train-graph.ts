import {CbpError} from '../../core/errors';
import {INPUT, type ModelSpec, type SpecNode} from '../../../models/spec';
import {GraphBuilder, valueInfo, type Attr} from '../../../onnx/graph-builder';
import {DataType} from '../../../onnx/schema';

/**
 * A CBP training step as one ordinary ONNX graph, written from the ModelSpec: the forward pass in training mode
 * (batch norm on batch statistics), softmax cross-entropy, and the backward pass spelled with standard ops by a
 * small reverse-mode tape. onnxruntime-node's inference build runs it; the CBP part (c(w), λ, the update rule)
 * stays in src/cbp. The formulations are those measured fastest on ONNX Runtime's CPU provider:
 * - input gradient of a convolution: a Conv with the flipped, transposed filter (stride 1), ConvTranspose with
 *   output_padding (stride > 1);
 * - filter gradient: im2col (one Gather of the channels-last input through a constant table, one Gemm);
 * - max-pool backward: MaxPool's Indices + ScatterElements with reduction 'add' (MaxUnpool sums overlapping
 *   windows wrongly);
 * - batch norm: mean and variance by reductions over [2, 3] then [0] (one reduction over [0, 2, 3] accumulates
 *   less accurately in float32), the output by BatchNormalization with those statistics.
 *
 * Inputs: `input` [N, C, H, W] float, `labels` [N] int64, and every trainable tensor by its state_dict name
 * (constrained weights already quantized: their gradient is the straight-through gradient of the latent weight).
 * Outputs: `loss` (mean cross-entropy), `logits`, `grad.<name>` per trainable tensor, `mean.<bn>` and `var.<bn>`
 * (the biased batch statistics, for the running-statistics update). The batch size is symbolic.
 */
export interface TrainGraph {
  readonly bytes: Uint8Array;
  /** Trainable tensors fed as inputs, in input order: state_dict key and shape. */
  readonly params: readonly {readonly key: string; readonly shape: readonly number[]}[];
  /** Batch-norm layers whose batch statistics are outputs, with the count of values per channel per sample. */
  readonly batchNorms: readonly {readonly name: string; readonly channels: number; readonly perSample: number}[];
}

export const TRAIN_OPSET = 17;
const IR_VERSION = 8;
const BIG = 2 ** 62;

/** Per-sample shape of every value: [C, H, W] after convolutional layers, [F] after flatten/dense. */
export function valueShapes(spec: ModelSpec): Map<string, readonly number[]> {
  const shapes = new Map<string, readonly number[]>([[INPUT, spec.inputShape]]);
  const of = (name: string): readonly number[] => {
    const s = shapes.get(name);
    if (s === undefined) throw new CbpError(`model ${spec.name}: '${name}' is used before it is defined`);
    return s;
  };
  const spatial = (n: number, k: number, s: number, p: number): number => Math.floor((n + 2 * p - k) / s) + 1;
  for (const node of spec.nodes) {
    switch (node.kind) {
      case 'conv2d': {
        const [, h, w] = of(node.input);
        shapes.set(node.name, [node.outChannels, spatial(h, node.kernel[0], node.stride[0], node.padding[0]), spatial(w, node.kernel[1], node.stride[1], node.padding[1])]);
        break;
      }
      case 'maxpool':
      case 'avgpool': {
        const [c, h, w] = of(node.input);
        shapes.set(node.name, [c, spatial(h, node.kernel[0], node.stride[0], node.padding[0]), spatial(w, node.kernel[1], node.stride[1], node.padding[1])]);
        break;
      }
      case 'globalavgpool':
        shapes.set(node.name, [of(node.input)[0], 1, 1]);
        break;
      case 'dense':
        shapes.set(node.name, [node.outFeatures]);
        break;
      case 'flatten':
        shapes.set(node.name, [of(node.input).reduce((a, b) => a * b, 1)]);
        break;
      case 'add':
        shapes.set(node.name, of(node.inputs[0]));
        break;
      case 'batchnorm':
      case 'relu':
        shapes.set(node.name, of(node.input));
        break;
    }
  }
  return shapes;
}

export interface TrainGraphOptions {
  /**
   * ONNX Runtime's NCHWc block size on this CPU (src/train/ort/nchwc.ts), or undefined: convolutions whose input and
   * output channels are multiples of it run as `com.microsoft.nchwc` Conv kernels, the filter reordered in-graph.
   */
  readonly nchwcBlock?: number;
}

/** The training-step graph of a model (see the file comment). */
export function writeTrainGraph(spec: ModelSpec, options: TrainGraphOptions = {}): TrainGraph {
  const b = new GraphBuilder();
  const conv = convolution(b, options.nchwcBlock);
  const shapes = valueShapes(spec);
  const shapeOf = (v: string): readonly number[] => shapes.get(v) ?? [];
  const params: {key: string; shape: readonly number[]}[] = [];
  const batchNorms: {name: string; channels: number; perSample: number}[] = [];
  const statOutputs: {name: string; channels: number}[] = [];
  const tape: (() => void)[] = [];
  const grads = new Map<string, string[]>();
  const accumulate = (value: string, g: string): void => {
    const list = grads.get(value);
    if (list === undefined) grads.set(value, [g]);
    else list.push(g);
  };
  const gradOf = (value: string): string | undefined => {
    const list = grads.get(value);
    if (list === undefined) return undefined;
    return list.length === 1 ? list[0] : b.op('Sum', list);
  };
  const param = (key: string, shape: readonly number[]): string => {
    params.push({key, shape});
    return key;
  };
  // Values whose gradient nobody needs: the input images.
  const needsGrad = (value: string): boolean => value !== INPUT;
  const input = (name: string): string => (name === INPUT ? 'input' : name);

  for (const node of spec.nodes) emitForward(node);

  function emitForward(node: SpecNode): void {
    switch (node.kind) {
      case 'conv2d': {
        const x = input(node.input);
        const [cin, h, w] = shapeOf(node.input);
        const [, ho, wo] = shapeOf(node.name);
        const [kh, kw] = node.kernel;
        const [sh, sw] = node.stride;
        const [ph, pw] = node.padding;
        const weight = param(`${node.name}.weight`, [node.outChannels, node.inChannels, kh, kw]);
        const bias = node.bias ? param(`${node.name}.bias`, [node.outChannels]) : undefined;
        conv(bias ? [x, weight, bias] : [x, weight], cin, node.outChannels, {kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw]}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined) return;
          if (bias) accumulate(bias, b.op('ReduceSum', [gy, b.i64([0, 2, 3])], {keepdims: 0}));
          accumulate(weight, convFilterGrad(b, x, gy, cin, node.outChannels, [ho, wo], [kh, kw], [sh, sw], [ph, pw], [h, w]));
          if (needsGrad(node.input)) accumulate(x, convInputGrad(b, conv, gy, weight, [cin, node.outChannels], [h, w], [ho, wo], [kh, kw], [sh, sw], [ph, pw]));
        });
        break;
      }
      case 'dense': {
        const x = input(node.input);
        const weight = param(`${node.name}.weight`, [node.outFeatures, node.inFeatures]);
        const bias = node.bias ? param(`${node.name}.bias`, [node.outFeatures]) : undefined;
        b.op('Gemm', bias ? [x, weight, bias] : [x, weight], {transB: 1}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined) return;
          accumulate(weight, b.op('Gemm', [gy, x], {transA: 1}));
          if (bias) accumulate(bias, b.op('ReduceSum', [gy, b.i64([0])], {keepdims: 0}));
          if (needsGrad(node.input)) accumulate(x, b.op('MatMul', [gy, weight]));
        });
        break;
      }
      case 'batchnorm':
        emitBatchNorm(node.name, input(node.input), node.channels, node.eps, shapeOf(node.input));
        break;
      case 'relu': {
        const x = input(node.input);
        const y = b.op('Relu', [x], {}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined || !needsGrad(node.input)) return;
          accumulate(x, b.op('Where', [b.op('Greater', [y, b.f32(0)]), gy, b.f32(0)]));
        });
        break;
      }
      case 'maxpool': {
        const x = input(node.input);
        const [y, indices] = b.opN('MaxPool', [x], 2, {kernel_shape: [...node.kernel], strides: [...node.stride], pads: [node.padding[0], node.padding[1], node.padding[0], node.padding[1]]});
        b.op('Identity', [y], {}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined || !needsGrad(node.input)) return;
          // Indices are positions in the whole flattened input (batch and channel included).
          const size = b.op('Reshape', [b.op('Size', [x]), b.i64([1])]);
          const zeros = b.op('Expand', [b.f32(0), size]);
          const flat = b.op('ScatterElements', [zeros, b.op('Reshape', [indices, b.i64([-1])]), b.op('Reshape', [gy, b.i64([-1])])], {axis: 0, reduction: 'add'});
          accumulate(x, b.op('Reshape', [flat, b.op('Shape', [x])]));
        });
        break;
      }
      case 'avgpool': {
        const x = input(node.input);
        const [c, h, w] = shapeOf(node.input);
        const [, ho, wo] = shapeOf(node.name);
        const pads = [node.padding[0], node.padding[1], node.padding[0], node.padding[1]];
        // PyTorch's AvgPool2d counts padded zeros by default.
        b.op('AveragePool', [x], {kernel_shape: [...node.kernel], strides: [...node.stride], pads, count_include_pad: 1}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined || !needsGrad(node.input)) return;
          const [kh, kw] = node.kernel;
          const spread = b.f32(1 / (kh * kw), [c, 1, kh, kw]);
          const outPad = [h - ((ho - 1) * node.stride[0] + kh - 2 * node.padding[0]), w - ((wo - 1) * node.stride[1] + kw - 2 * node.padding[1])];
          accumulate(x, b.op('ConvTranspose', [gy, spread], {kernel_shape: [kh, kw], strides: [...node.stride], pads, output_padding: outPad, group: c}));
        });
        break;
      }
      case 'globalavgpool': {
        const x = input(node.input);
        const [, h, w] = shapeOf(node.input);
        b.op('GlobalAveragePool', [x], {}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined || !needsGrad(node.input)) return;
          accumulate(x, b.op('Expand', [b.op('Mul', [gy, b.f32(1 / (h * w))]), b.op('Shape', [x])]));
        });
        break;
      }
      case 'add': {
        const [x1, x2] = [input(node.inputs[0]), input(node.inputs[1])];
        b.op('Add', [x1, x2], {}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined) return;
          if (needsGrad(node.inputs[0])) accumulate(x1, gy);
          if (needsGrad(node.inputs[1])) accumulate(x2, gy);
        });
        break;
      }
      case 'flatten': {
        const x = input(node.input);
        b.op('Flatten', [x], {axis: 1}, node.name);
        tape.push(() => {
          const gy = gradOf(node.name);
          if (gy === undefined || !needsGrad(node.input)) return;
          accumulate(x, b.op('Reshape', [gy, b.op('Shape', [x])]));
        });
        break;
      }
    }
  }

  function emitBatchNorm(name: string, x: string, channels: number, eps: number, shape: readonly number[]): void {
    const spatial = shape.length === 3;
    const perSample = spatial ? shape[1] * shape[2] : 1;
    const gamma = param(`${name}.weight`, [channels]);
    const beta = param(`${name}.bias`, [channels]);
    // Means over the spatial axes first, then over the batch: float32 accumulates far less error this way. The
    // variance is the mean of (x − mean)², two passes: E[x²] − mean² loses 1e-3 of a ResNet-20's gradients to
    // cancellation (measured against PyTorch in float64). The centred copy is transient: the backward pass below
    // needs only x and the mean, so no activation-sized tensor per batch norm stays alive until then.
    const overBatch = (t: string): string => b.op('ReduceMean', [t], {axes: [0], keepdims: 1});
    const mean = overBatch(spatial ? b.op('ReduceMean', [x], {axes: [2, 3], keepdims: 1}) : x);
    const centred = b.op('Sub', [x, mean]);
    const squares = b.op('Mul', [centred, centred]);
    const variance = overBatch(spatial ? b.op('ReduceMean', [squares], {axes: [2, 3], keepdims: 1}) : squares);
    const meanC = b.op('Reshape', [mean, b.i64([channels])], {}, `mean.${name}`);
    const varC = b.op('Reshape', [variance, b.i64([channels])], {}, `var.${name}`);
    statOutputs.push({name: meanC, channels}, {name: varC, channels});
    batchNorms.push({name, channels, perSample});
    b.op('BatchNormalization', [x, gamma, beta, meanC, varC], {epsilon: {float: eps}}, name);
    tape.push(() => {
      const gy = gradOf(name);
      if (gy === undefined) return;
      const sum2 = (t: string): string => (spatial ? b.op('ReduceSum', [b.op('ReduceSum', [t, b.i64([2, 3])], {keepdims: 1}), b.i64([0])], {keepdims: 1}) : b.op('ReduceSum', [t, b.i64([0])], {keepdims: 1}));
      const invstd = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, b.f32(eps)])])]);
      const sdy = sum2(gy);
      // Σ dy·x̂ = invstd · (Σ dy·x − mean · Σ dy)
      const sdyxhat = b.op('Mul', [invstd, b.op('Sub', [sum2(b.op('Mul', [gy, x])), b.op('Mul', [mean, sdy])])]);
      accumulate(gamma, b.op('Reshape', [sdyxhat, b.i64([channels])]));
      accumulate(beta, b.op('Reshape', [sdy, b.i64([channels])]));
      // dx = A·dy + B·x + C with A = γ·invstd, B = −A·invstd·Σ(dy·x̂)/M, C = −A·Σdy/M − B·mean (M values per channel).
      const invM = b.op('Reciprocal', [b.op('Div', [b.op('Cast', [b.op('Size', [x])], {to: DataType.FLOAT}), b.f32(channels)])]);
      const a = b.op('Mul', [b.op('Reshape', [gamma, b.i64(spatial ? [1, channels, 1, 1] : [1, channels])]), invstd]);
      const bx = b.op('Neg', [b.op('Mul', [b.op('Mul', [a, invstd]), b.op('Mul', [sdyxhat, invM])])]);
      const c = b.op('Neg', [b.op('Add', [b.op('Mul', [a, b.op('Mul', [sdy, invM])]), b.op('Mul', [bx, mean])])]);
      // x·B + C in one pass: BatchNormalization with scale B, bias C, mean 0, variance 1 and epsilon 0.
      const affine = b.op('BatchNormalization', [x, b.op('Reshape', [bx, b.i64([channels])]), b.op('Reshape', [c, b.i64([channels])]), b.f32(0, [channels]), b.f32(1, [channels])], {epsilon: {float: 0}});
      accumulate(x, b.op('Add', [b.op('Mul', [gy, a]), affine]));
    });
  }

  // Loss: mean softmax cross-entropy; its gradient (softmax − one-hot)/N.
  const logits = b.op('Identity', [spec.output], {}, 'logits');
  const [loss, logProb] = b.opN('SoftmaxCrossEntropyLoss', [logits, 'labels'], 2, {reduction: 'mean'});
  b.op('Identity', [loss], {}, 'loss');
  const n = b.op('Cast', [b.op('Shape', ['labels'])], {to: DataType.FLOAT});
  const oneHot = b.op('OneHot', ['labels', b.i64([spec.numClasses]), b.f32Vector([0, 1])], {axis: -1});
  accumulate(spec.output, b.op('Div', [b.op('Sub', [b.op('Exp', [logProb]), oneHot]), n]));
  for (let i = tape.length - 1; i >= 0; i--) tape[i]();

  const outputs = [valueInfo('loss', DataType.FLOAT, []), valueInfo('logits', DataType.FLOAT, [spec.numClasses], 'batch')];
  for (const p of params) {
    const g = gradOf(p.key);
    if (g === undefined) throw new CbpError(`internal: no gradient reaches ${p.key} in model ${spec.name}`);
    b.op('Identity', [g], {}, `grad.${p.key}`);
    outputs.push(valueInfo(`grad.${p.key}`, DataType.FLOAT, p.shape));
  }
  for (const s of statOutputs) outputs.push(valueInfo(s.name, DataType.FLOAT, [s.channels]));
  const inputs = [
    valueInfo('input', DataType.FLOAT, spec.inputShape, 'batch'),
    valueInfo('labels', DataType.INT64, [], 'batch'),
    ...params.map((p) => valueInfo(p.key, DataType.FLOAT, p.shape)),
  ];
  return {bytes: b.model(`${spec.name}_train_step`, inputs, outputs, TRAIN_OPSET, IR_VERSION), params, batchNorms};
}

/** w[:, :, ::-1, ::-1] transposed to [Cin, Cout, kh, kw]: the filter of the input gradient as a convolution. */
function flipTransposed(b: GraphBuilder, w: string): string {
  const flipped = b.op('Slice', [w, b.i64([-1, -1]), b.i64([-BIG, -BIG]), b.i64([2, 3]), b.i64([-1, -1])]);
  return b.op('Transpose', [flipped], {perm: [1, 0, 2, 3]});
}

/** A Conv node (inputs x, w[, bias]) with cin input and cout output channels; named `name` when given. */
type Convolution = (inputs: readonly string[], cin: number, cout: number, attrs: Record<string, Attr>, name?: string) => string;

/**
 * Convolutions for this graph. With an NCHWc block size B (src/train/ort/nchwc.ts), one whose channels are multiples
 * of B runs on ONNX Runtime's `com.microsoft.nchwc` Conv — the kernel ORT's optimizer picks for constant filters,
 * which our weights fed per step never get: the input reordered to blocks (ReorderInput), the filter reordered
 * in-graph from [O, I, kh, kw] to [O/B, I/B, kh, kw, B_in, B_out], the output reordered back (ReorderOutput).
 * Measured on a 64→64 3×3 layer at 56×56, batch 32: 31 → 23–27 ms, reorders included.
 */
function convolution(b: GraphBuilder, block: number | undefined): Convolution {
  return (inputs, cin, cout, attrs, name) => {
    if (block === undefined || cin % block !== 0 || cout % block !== 0) return b.op('Conv', inputs, attrs, name);
    const [x, w, ...bias] = inputs;
    const kernel = attrs.kernel_shape;
    if (!Array.isArray(kernel) || kernel.length !== 2) throw new Error('internal: a convolution without its 2-d kernel_shape');
    const [kh, kw] = kernel;
    const blocks = b.op('Transpose', [b.op('Reshape', [w, b.i64([cout / block, block, cin / block, block, kh, kw])])], {perm: [0, 2, 4, 5, 3, 1]});
    const filter = b.op('Reshape', [blocks, b.i64([cout, cin, kh, kw])]);
    const y = b.opIn(NCHWC, 'Conv', [b.opIn(NCHWC, 'ReorderInput', [x]), filter, ...bias], attrs);
    return b.opIn(NCHWC, 'ReorderOutput', [y], {channels: cout}, name);
  };
}

const NCHWC = 'com.microsoft.nchwc';

function convInputGrad(b: GraphBuilder, conv: Convolution, gy: string, w: string, [cin, cout]: readonly number[], [h, wd]: readonly number[], [ho, wo]: readonly number[], [kh, kw]: readonly number[], [sh, sw]: readonly number[], [ph, pw]: readonly number[]): string {
  if (sh === 1 && sw === 1 && ph <= kh - 1 && pw <= kw - 1) {
    const [bh, bw] = [kh - 1 - ph, kw - 1 - pw];
    // End pads make the output exactly h × w (they differ from the begin pads only when the forward pass cropped).
    const [eh, ew] = [h - ho - bh + kh - 1, wd - wo - bw + kw - 1];
    if (eh >= 0 && ew >= 0) return conv([gy, flipTransposed(b, w)], cout, cin, {kernel_shape: [kh, kw], pads: [bh, bw, eh, ew]});
  }
  const outPad = [h - ((ho - 1) * sh + kh - 2 * ph), wd - ((wo - 1) * sw + kw - 2 * pw)];
  return b.op('ConvTranspose', [gy, w], {kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], output_padding: outPad});
}

function convFilterGrad(b: GraphBuilder, x: string, gy: string, cin: number, cout: number, [ho, wo]: readonly number[], [kh, kw]: readonly number[], [sh, sw]: readonly number[], [ph, pw]: readonly number[], [h, w]: readonly number[]): string {
  const [eh, ew] = [kh - h - ph + sh * (ho - 1), kw - w - pw + sw * (wo - 1)];
  if (kh * kw >= 49 && eh >= 0 && ew >= 0) {
    // A 7×7 or larger kernel (a stem): the batch as the channel axis, dy as the filter, dilated by the stride — one
    // convolution instead of kh·kw strided copies of the input. ResNet-18 b32: 2.23 → 2.0 s per step, 3.36 → 2.6 GB.
    const xt = b.op('Transpose', [x], {perm: [1, 0, 2, 3]});
    const dyt = b.op('Transpose', [gy], {perm: [1, 0, 2, 3]});
    const dwt = b.op('Conv', [xt, dyt], {kernel_shape: [ho, wo], dilations: [sh, sw], pads: [ph, pw, eh, ew]});
    return b.op('Transpose', [dwt], {perm: [1, 0, 2, 3]});
  }
  return im2colFilterGrad(b, x, gy, cin, cout, [ho, wo], [kh, kw], [sh, sw], [ph, pw], [h, w]);
}

/**
 * dW by im2col with one Gather: the input channels-last as rows [N, H·W, Cin] plus one zero row (the padding), and
 * a constant table of which row each (output position, kernel offset) reads — so the columns [N·Ho·Wo, kh·kw·Cin]
 * are written once, by one multi-threaded op, where strided Slices and a Concat copied them twice (ResNet-18 b32:
 * about 5% of the step). Then dW = dyᵀ·cols as one Gemm, reordered to [Cout, Cin, kh, kw].
 */
function im2colFilterGrad(b: GraphBuilder, x: string, gy: string, cin: number, cout: number, [ho, wo]: readonly number[], [kh, kw]: readonly number[], [sh, sw]: readonly number[], [ph, pw]: readonly number[], [h, w]: readonly number[]): string {
  const dyr = b.op('Reshape', [b.op('Transpose', [gy], {perm: [1, 0, 2, 3]}), b.i64([cout, -1])]);
  const channelsLast = b.op('Transpose', [x], {perm: [0, 2, 3, 1]});
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0) {
    return b.op('Reshape', [b.op('Gemm', [dyr, b.op('Reshape', [channelsLast, b.i64([-1, cin])])]), b.i64([cout, cin, 1, 1])]);
  }
  const rows = b.op('Pad', [b.op('Reshape', [channelsLast, b.i64([0, h * w, cin])]), b.i64([0, 0, 0, 0, 1, 0])]);
  const table = new BigInt64Array(ho * wo * kh * kw);
  let t = 0;
  for (let oh = 0; oh < ho; oh++) {
    for (let ow = 0; ow < wo; ow++) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const [ih, iw] = [oh * sh - ph + i, ow * sw - pw + j];
          table[t++] = BigInt(ih >= 0 && ih < h && iw >= 0 && iw < w ? ih * w + iw : h * w);
        }
      }
    }
  }
  const index = b.i64Table(`im2col:${h},${w},${ho},${wo},${kh},${kw},${sh},${sw},${ph},${pw}`, [ho * wo, kh * kw], table);
  const cols = b.op('Reshape', [b.op('Gather', [rows, index], {axis: 1}), b.i64([-1, kh * kw * cin])]);
  const dw = b.op('Reshape', [b.op('Gemm', [dyr, cols]), b.i64([cout, kh, kw, cin])]);
  return b.op('Transpose', [dw], {perm: [0, 3, 1, 2]});
}

/**
 * The self-check of the NCHWc convolutions for a block size B (src/train/ort/nchwc.ts): a probe that reads B (ReorderInput
 * pads 4 channels up to one block), and a 3×3 convolution of 2B → 2B channels written both ways by the same
 * `convolution` the training graph uses — outputs `plain` and `blocked` must agree.
 */
export function nchwcProbeGraph(): Uint8Array {
  const b = new GraphBuilder();
  b.opIn(NCHWC, 'ReorderInput', ['x'], {}, 'y');
  const y = {name: 'y', type: {tensor_type: {elem_type: DataType.FLOAT, shape: {dim: [{dim_value: 1}, {dim_param: 'blocked_channels'}, {dim_value: 1}, {dim_value: 1}]}}}};
  return b.model('nchwc_probe', [valueInfo('x', DataType.FLOAT, [1, 4, 1, 1])], [y], TRAIN_OPSET, IR_VERSION);
}

export function nchwcCheckGraph(block: number): Uint8Array {
  const b = new GraphBuilder();
  const c = 2 * block;
  const attrs = {kernel_shape: [3, 3], pads: [1, 1, 1, 1]};
  convolution(b, undefined)(['x', 'w'], c, c, attrs, 'plain');
  convolution(b, block)(['x', 'w'], c, c, attrs, 'blocked');
  const inputs = [valueInfo('x', DataType.FLOAT, [1, c, 5, 5]), valueInfo('w', DataType.FLOAT, [c, c, 3, 3])];
  return b.model('nchwc_check', inputs, [valueInfo('plain', DataType.FLOAT, [1, c, 5, 5]), valueInfo('blocked', DataType.FLOAT, [1, c, 5, 5])], TRAIN_OPSET, IR_VERSION);
}
