import {CbpError} from '../../core/errors';
import {INPUT, kindOf, valueShapes, type ModelSpec} from '../../../models/spec';
import {padBand, type Band, type ConvGeometry, type ConvolutionOps, type TrainingGraph} from '../../../models/kinds/index';
import {GraphBuilder, valueInfo, type Attr} from '../../../onnx/graph-builder';
import {DataType} from '../../../onnx/schema';

/**
 * A CBP training step as one ordinary ONNX graph, written from the ModelSpec: the forward pass in training mode
 * (batch norm on batch statistics), softmax cross-entropy, and the backward pass spelled with standard ops by a
 * small reverse-mode tape. onnxruntime-node's inference build runs it; the CBP part (c(w), λ, the update rule)
 * stays in src/cbp. The formulations are those measured fastest on ONNX Runtime's CPU provider:
 * - input gradient of a convolution: a Conv with the flipped, transposed filter (stride 1, unless the input has
 *   1.5× the output's positions or more), ConvTranspose with output_padding (stride > 1, or such a shrinking one);
 * - filter gradient: im2col (one Gather of the channels-last input through a constant table, one Gemm);
 * - max-pool backward: MaxPool's Indices + MaxUnpool where the windows do not overlap, ScatterElements with
 *   reduction 'add' where they do (MaxUnpool would drop one of two gradients that share a maximum);
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
  /** Dropout masks fed per step (input `mask.<layer>`, [N, ...perSample]), in spec order. */
  readonly masks: readonly DropoutMask[];
}

export interface DropoutMask {
  readonly layer: string;
  readonly input: string;
  readonly p: number;
  readonly perSample: readonly number[];
}

export const TRAIN_OPSET = 17;
const IR_VERSION = 8;
const BIG = 2 ** 62;

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
  const forward = convolution(b, options.nchwcBlock);
  const conv: ConvolutionOps = {
    forward,
    inputGrad: (gy, w, c) => (plain(c) ? convInputGrad(b, forward, gy, w, [c.cin, c.cout], c.in, c.out, c.kernel, c.stride, c.padding) : groupedInputGrad(b, gy, w, c)),
    filterGrad: (x, gy, c) => (plain(c) ? convFilterGrad(b, x, gy, c.cin, c.cout, c.out, c.kernel, c.stride, c.padding, c.in) : groupedFilterGrad(b, x, gy, c)),
  };
  const shapes = valueShapes(spec);
  const params: {key: string; shape: readonly number[]}[] = [];
  const batchNorms: {name: string; channels: number; perSample: number}[] = [];
  const statOutputs: {name: string; channels: number}[] = [];
  const masks: DropoutMask[] = [];
  const tape: (() => void)[] = [];
  const grads = new Map<string, string[]>();
  const bands = new Map<string, {grad: string; band: Band}[]>();
  const accumulate = (value: string, g: string): void => {
    const list = grads.get(value);
    if (list === undefined) grads.set(value, [g]);
    else list.push(g);
  };
  const accumulateBand = (value: string, grad: string, band: Band): void => {
    const list = bands.get(value);
    if (list === undefined) bands.set(value, [{grad, band}]);
    else list.push({grad, band});
  };
  let anchorHook: ((value: string, gradient: string) => void) | undefined;
  const gradOf = (value: string): string | undefined => {
    const parts = bands.get(value);
    if (parts !== undefined) {
      bands.delete(value);
      const joined = grads.has(value) ? undefined : tiled(b, parts);
      if (joined !== undefined) grads.set(value, [joined]);
      else for (const p of parts) accumulate(value, padBand(b, p.grad, p.band));
    }
    const list = grads.get(value);
    if (list === undefined) return undefined;
    const g = list.length === 1 ? list[0] : b.op('Sum', list);
    anchorHook?.(value, g);
    return g;
  };
  const graph: TrainingGraph = {
    ops: b,
    conv,
    value: (name) => name,
    shape: (name) => shapes.get(name) ?? [],
    param: (key, shape) => {
      params.push({key, shape});
      return key;
    },
    // Values whose gradient nobody needs: the input images.
    needsGrad: (name) => name !== INPUT,
    backward: (fn) => tape.push(fn),
    gradOf,
    accumulate,
    accumulateBand,
    dropoutMask: (layer, p, perSample) => {
      const input = `mask.${layer}`;
      masks.push({layer, input, p, perSample});
      return input;
    },
    batchStats: (name, mean, variance, channels, perSample) => {
      statOutputs.push({name: mean, channels}, {name: variance, channels});
      batchNorms.push({name, channels, perSample});
    },
  };
  // Each kind writes its forward pass and queues its backward pass (models/kinds).
  for (const node of spec.nodes) kindOf(node).train(node, graph);

  // Loss: mean softmax cross-entropy; its gradient (softmax − one-hot)/N.
  const logits = b.op('Identity', [spec.output], {}, 'logits');
  const [loss, logProb] = b.opN('SoftmaxCrossEntropyLoss', [logits, 'labels'], 2, {reduction: 'mean'});
  b.op('Identity', [loss], {}, 'loss');
  const n = b.op('Cast', [b.op('Shape', ['labels'])], {to: DataType.FLOAT});
  const oneHot = b.op('OneHot', ['labels', b.i64([spec.numClasses]), b.f32Vector([0, 1])], {axis: -1});
  accumulate(spec.output, b.op('Div', [b.op('Sub', [b.op('Exp', [logProb]), oneHot]), n]));
  runTape(b, tape, shapes, (hook) => (anchorHook = hook));

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
    ...masks.map((m) => valueInfo(m.input, DataType.FLOAT, m.perSample, 'batch')),
  ];
  return {bytes: b.model(`${spec.name}_train_step`, inputs, outputs, TRAIN_OPSET, IR_VERSION), params, batchNorms, masks};
}

/**
 * Runs the backward passes the kinds queued, last node first, each reading the forward values of the model (the
 * spec's values: every node's output, and the input) through a view that exists only once the first gradient the
 * pass asked for (`gradOf`) does: a Reshape of the value to its own shape, with a dependency on that gradient.
 * ONNX Runtime runs a node as soon as its inputs exist, so a backward computation that reads forward values only (an
 * activation's mask, 1 − y) would otherwise run during the forward pass and hold its result until the backward pass
 * reaches that layer: a third of the peak memory of the ResNet and MobileNet steps at batch 32. The views cost no
 * copy (ONNX Runtime's Reshape aliases its input).
 */
function runTape(b: GraphBuilder, tape: readonly (() => void)[], shapes: ReadonlyMap<string, readonly number[]>, onGradient: (hook: ((value: string, gradient: string) => void) | undefined) => void): void {
  const views = new Map<string, string>();
  const zeros = new Map<string, string>();
  let anchor: string | undefined;
  // A zero computed from the gradient's first element (IsNaN, cast, times 0), one per gradient: ONNX Runtime sees
  // through anything computed from the gradient's shape (Shape or Size: its symbolic batch is the value's) and would
  // fold a view's shape into a constant, and with it the dependency.
  const zeroOf = (gradient: string): string => {
    let z = zeros.get(gradient);
    if (z === undefined) {
      const first = b.op('Slice', [b.op('Reshape', [gradient, b.i64([-1])]), b.i64([0]), b.i64([1])]);
      z = b.op('Mul', [b.op('Cast', [b.op('IsNaN', [first])], {to: DataType.INT64}), b.i64([0])]);
      zeros.set(gradient, z);
    }
    return z;
  };
  // The view: the value reshaped to [-1, ...per sample] plus that zero.
  const view = (value: string, gradient: string): string => {
    const key = `${value}\u0000${gradient}`;
    let v = views.get(key);
    if (v === undefined) {
      v = b.op('Reshape', [value, b.op('Add', [b.i64([-1, ...(shapes.get(value) ?? [])]), zeroOf(gradient)])]);
      views.set(key, v);
    }
    return v;
  };
  // The anchor is the gradient of a spec value (batch first), not of a parameter.
  onGradient((value, gradient) => {
    if (shapes.has(value)) anchor ??= gradient;
  });
  const rewrite = (name: string): string => {
    if (anchor === undefined || !shapes.has(name)) return name;
    b.inputRewrite = undefined;
    try {
      return view(name, anchor);
    } finally {
      b.inputRewrite = rewrite;
    }
  };
  for (let i = tape.length - 1; i >= 0; i--) {
    anchor = undefined;
    b.inputRewrite = rewrite;
    tape[i]();
  }
  b.inputRewrite = undefined;
  onGradient(undefined);
}

/**
 * Band gradients of one value that tile their axis exactly (the same axis, no gaps, no overlap: q, k and v taken
 * from one qkv tensor) as one Concat in axis order; undefined otherwise, where each is padded and the pads summed.
 * The Concat writes the value once; the pads and their Sum wrote it three times and read it three (the study ViT's
 * step at batch 256: 4 × (3 Pads + Sum) of [256, 50, 3, 4, 32], 428 → 378 ms per step).
 */
function tiled(b: GraphBuilder, parts: readonly {grad: string; band: Band}[]): string | undefined {
  if (parts.length < 2) return undefined;
  const sorted = [...parts].sort((p, q) => p.band.start - q.band.start);
  const {axis, length} = sorted[0].band;
  let at = 0;
  for (const p of sorted) {
    if (p.band.axis !== axis || p.band.length !== length || p.band.start !== at) return undefined;
    at += p.band.size;
  }
  return at === length ? b.op('Concat', sorted.map((p) => p.grad), {axis}) : undefined;
}

/** w[:, :, ::-1, ::-1]: a filter flipped in both spatial axes. */
function flipped(b: GraphBuilder, w: string): string {
  return b.op('Slice', [w, b.i64([-1, -1]), b.i64([-BIG, -BIG]), b.i64([2, 3]), b.i64([-1, -1])]);
}

/** w[:, :, ::-1, ::-1] transposed to [Cin, Cout, kh, kw]: the filter of the input gradient as a convolution. */
function flipTransposed(b: GraphBuilder, w: string): string {
  return b.op('Transpose', [flipped(b, w)], {perm: [1, 0, 2, 3]});
}

/** A Conv node (inputs x, w[, bias]) with cin input and cout output channels; named `name` when given. */
export type Convolution = (inputs: readonly string[], cin: number, cout: number, attrs: Record<string, Attr>, name?: string) => string;

/**
 * Convolutions for this graph. With an NCHWc block size B (src/train/ort/nchwc.ts), one whose channels are multiples
 * of B runs on ONNX Runtime's `com.microsoft.nchwc` Conv — the kernel ORT's optimizer picks for constant filters,
 * which our weights fed per step never get: the input reordered to blocks (ReorderInput), the filter reordered
 * in-graph from [O, I, kh, kw] to [O/B, I/B, kh, kw, B_in, B_out], the output reordered back (ReorderOutput).
 * Measured on a 64→64 3×3 layer at 56×56, batch 32: 31 → 23–27 ms, reorders included.
 */
export function convolution(b: GraphBuilder, block: number | undefined): Convolution {
  return (inputs, cin, cout, attrs, name) => {
    if (block === undefined || cin % block !== 0 || cout % block !== 0 || attrs.group !== undefined || attrs.dilations !== undefined) return b.op('Conv', inputs, attrs, name);
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

/** The ratio of input to output positions of a stride-1 convolution from which its input gradient is a ConvTranspose. */
const WASTE_LIMIT = 1.5;

function convInputGrad(b: GraphBuilder, conv: Convolution, gy: string, w: string, [cin, cout]: readonly number[], [h, wd]: readonly number[], [ho, wo]: readonly number[], [kh, kw]: readonly number[], [sh, sw]: readonly number[], [ph, pw]: readonly number[]): string {
  // The flipped Conv computes every input position from a zero-padded gy; where the forward pass shrank the image
  // (little or no padding, a small image: LeNet-5's 5×5 on 12×12 → 8×8) most of its products are with zeros, and
  // ConvTranspose, one product per gy value, is faster (that layer at batch 256: 19.6 → 10.0 ms).
  const sparse = h * wd >= WASTE_LIMIT * ho * wo;
  if (sh === 1 && sw === 1 && ph <= kh - 1 && pw <= kw - 1 && !sparse) {
    const [bh, bw] = [kh - 1 - ph, kw - 1 - pw];
    // End pads make the output exactly h × w (they differ from the begin pads only when the forward pass cropped).
    const [eh, ew] = [h - ho - bh + kh - 1, wd - wo - bw + kw - 1];
    if (eh >= 0 && ew >= 0) return conv([gy, flipTransposed(b, w)], cout, cin, {kernel_shape: [kh, kw], pads: [bh, bw, eh, ew]});
  }
  const outPad = [h - ((ho - 1) * sh + kh - 2 * ph), wd - ((wo - 1) * sw + kw - 2 * pw)];
  return b.op('ConvTranspose', [gy, w], {kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], output_padding: outPad});
}

/** A convolution of one group and no dilation (the formulations above were measured on those). */
const plain = (c: ConvGeometry): boolean => c.groups === 1 && c.dilation[0] === 1 && c.dilation[1] === 1;

/**
 * The input gradient of a grouped or dilated convolution. Stride 1: a Conv of the same group and dilation with each
 * group's filter flipped and transposed — measured 1.8–3× faster than ConvTranspose on MobileNetV2's depthwise layers
 * (batch 32, both cores: 144 channels at 56×56 124 → 70 ms, 32 at 112×112 120 → 58 ms, 576 at 14×14 41 → 14 ms).
 * Otherwise ConvTranspose with the same group, dilations and stride.
 */
function groupedInputGrad(b: GraphBuilder, gy: string, w: string, c: ConvGeometry): string {
  const [[h, wd], [ho, wo], [kh, kw], [sh, sw], [ph, pw], [dh, dw]] = [c.in, c.out, c.kernel, c.stride, c.padding, c.dilation];
  if (sh === 1 && sw === 1) {
    const [bh, bw] = [dh * (kh - 1) - ph, dw * (kw - 1) - pw];
    // End pads make the output exactly h × w (they differ from the begin pads only when the forward pass cropped).
    const [eh, ew] = [h - ho - bh + dh * (kh - 1), wd - wo - bw + dw * (kw - 1)];
    if (bh >= 0 && bw >= 0 && eh >= 0 && ew >= 0) {
      const [gin, gout] = [c.cin / c.groups, c.cout / c.groups];
      // [Cout, Cin/g, kh, kw] → per group [Cin/g, Cout/g, kh, kw], flipped: the filter [Cin, Cout/g, kh, kw].
      const flip = flipped(b, w);
      const filter = gin === 1 && gout === 1 ? flip
        : b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [flip, b.i64([c.groups, gout, gin, kh, kw])])], {perm: [0, 2, 1, 3, 4]}), b.i64([c.cin, gout, kh, kw])]);
      return b.op('Conv', [gy, filter], {kernel_shape: [kh, kw], pads: [bh, bw, eh, ew], group: c.groups, ...(dh !== 1 || dw !== 1 ? {dilations: [dh, dw]} : {})});
    }
  }
  const outPad = [h - ((ho - 1) * sh + dh * (kh - 1) + 1 - 2 * ph), wd - ((wo - 1) * sw + dw * (kw - 1) + 1 - 2 * pw)];
  return b.op('ConvTranspose', [gy, w], {kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], output_padding: outPad, group: c.groups, dilations: [dh, dw]});
}

/**
 * The filter gradient of a grouped or dilated convolution: the im2col Gather of the dense case (dilation in its
 * table), the columns split by group, and one batched MatMul — dW[g] = dy[g] · cols[g] for every group at once.
 */
function groupedFilterGrad(b: GraphBuilder, x: string, gy: string, c: ConvGeometry): string {
  const {cin, cout, groups} = c;
  const [[ho, wo], [kh, kw]] = [c.out, c.kernel];
  const [gin, gout] = [cin / groups, cout / groups];
  const [[h, w], [sh, sw], [ph, pw], [dh, dv]] = [c.in, c.stride, c.padding, c.dilation];
  const [eh, ew] = [(kh - 1) * dh + sh * (ho - 1) + 1 - h - ph, (kw - 1) * dv + sw * (wo - 1) + 1 - w - pw];
  if (gin === 1 && eh >= 0 && ew >= 0) {
    // Depthwise: each channel's input over the batch as one group of N channels ([1, Cin·N, H, W]), dy as that
    // group's filter ([Cout, N, Ho, Wo], dilated by the stride, strided by the dilation): one Conv of Cin groups
    // gives dW [Cout, 1, kh, kw] with the batch summed inside. MobileNetV2's 3×3 layers, batch 32, one thread:
    // 1.3–1.9× faster than the im2col form below (32 channels at 112×112: 234 → 184 ms; 144 at 56, stride 2:
    // 81 → 42 ms; 960 at 7: 36 → 23 ms), without its columns.
    const folded = b.op('Reshape', [b.op('Transpose', [x], {perm: [1, 0, 2, 3]}), b.i64([1, -1, h, w])]);
    const filter = b.op('Transpose', [gy], {perm: [1, 0, 2, 3]});
    const sums = b.op('Conv', [folded, filter], {kernel_shape: [ho, wo], strides: [dh, dv], dilations: [sh, sw], pads: [ph, pw, eh, ew], group: cin});
    return b.op('Reshape', [sums, b.i64([cout, 1, kh, kw])]);
  }
  const cols = im2colColumns(b, b.op('Transpose', [x], {perm: [0, 2, 3, 1]}), cin, c.in, c.out, c.kernel, c.stride, c.padding, c.dilation);
  // [N, Ho·Wo, kh·kw, Cin] → [groups, N·Ho·Wo, kh·kw·Cin/groups]
  const byGroup = b.op('Transpose', [b.op('Reshape', [cols, b.i64([-1, kh * kw, groups, gin])])], {perm: [2, 0, 1, 3]});
  const colsG = b.op('Reshape', [byGroup, b.i64([groups, -1, kh * kw * gin])]);
  // dy [N, Cout, Ho, Wo] → [groups, Cout/groups, N·Ho·Wo]
  const dyG = b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [gy, b.i64([0, groups, gout, ho * wo])])], {perm: [1, 2, 0, 3]}), b.i64([groups, gout, -1])]);
  const dw = b.op('Reshape', [b.op('MatMul', [dyG, colsG]), b.i64([cout, kh, kw, gin])]);
  return b.op('Transpose', [dw], {perm: [0, 3, 1, 2]});
}

/**
 * im2col columns [N, Ho·Wo, kh·kw, Cin] of a convolution's input (given channels-last) by one Gather through a
 * constant table: the rows [N, H·W, Cin] plus one zero row (the padding).
 */
function im2colColumns(b: GraphBuilder, channelsLast: string, cin: number, [h, w]: readonly number[], out: readonly number[], kernel: readonly number[], stride: readonly number[], padding: readonly number[], dilation: readonly number[]): string {
  const rows = b.op('Pad', [b.op('Reshape', [channelsLast, b.i64([0, h * w, cin])]), b.i64([0, 0, 0, 0, 1, 0])]);
  return b.op('Gather', [rows, im2colTable(b, [h, w], out, kernel, stride, padding, dilation)], {axis: 1});
}

/** Which row of the padded channels-last input each (output position, kernel offset) reads; h·w is the zero row. */
function im2colTable(b: GraphBuilder, [h, w]: readonly number[], [ho, wo]: readonly number[], [kh, kw]: readonly number[], [sh, sw]: readonly number[], [ph, pw]: readonly number[], [dh, dw]: readonly number[]): string {
  const table = new BigInt64Array(ho * wo * kh * kw);
  let t = 0;
  for (let oh = 0; oh < ho; oh++) {
    for (let ow = 0; ow < wo; ow++) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const [ih, iw] = [oh * sh - ph + i * dh, ow * sw - pw + j * dw];
          table[t++] = BigInt(ih >= 0 && ih < h && iw >= 0 && iw < w ? ih * w + iw : h * w);
        }
      }
    }
  }
  const key = dh === 1 && dw === 1 ? `im2col:${h},${w},${ho},${wo},${kh},${kw},${sh},${sw},${ph},${pw}` : `im2col:${h},${w},${ho},${wo},${kh},${kw},${sh},${sw},${ph},${pw},${dh},${dw}`;
  return b.i64Table(key, [ho * wo, kh * kw], table);
}

function convFilterGrad(b: GraphBuilder, x: string, gy: string, cin: number, cout: number, [ho, wo]: readonly number[], [kh, kw]: readonly number[], [sh, sw]: readonly number[], [ph, pw]: readonly number[], [h, w]: readonly number[]): string {
  const [eh, ew] = [kh - h - ph + sh * (ho - 1), kw - w - pw + sw * (wo - 1)];
  if ((kh * kw >= 49 || cin === 1) && eh >= 0 && ew >= 0) {
    // A 7×7 or larger kernel (a stem): the batch as the channel axis, dy as the filter, dilated by the stride — one
    // convolution instead of kh·kw strided copies of the input. ResNet-18 b32: 2.23 → 2.0 s per step, 3.36 → 2.6 GB.
    // So too for one input channel (a grayscale stem), where im2col's Gather moves one float per index: LeNet-5's
    // 1→20 5×5 at batch 256, 51 → 47 ms per step (ResNet-20's 1→16 3×3: the same either way).
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
  if (kh === 1 && kw === 1 && ph === 0 && pw === 0 && cout * cin <= 2 * ho * wo * (cin + cout)) {
    // A 1×1 convolution whose filter is small beside its activations (ResNet-50's bottlenecks up to 14×14): per
    // sample dy·xᵀ as one batched MatMul straight from NCHW, then the sum over the batch. ONNX Runtime's CPU
    // optimizer fuses the Transpose into the MatMul (FusedMatMul, transB), so neither x nor dy is transposed. Batch
    // 32, both cores: 64→256 at 56×56 77 → 21 ms, 512→128 at 28×28 59 → 24 ms, 256→1024 at 14×14 31 → 24 ms;
    // 512→2048 at 7×7 slower (31 → 41 ms: N·Cout·Cin partial sums), so it keeps the Gemm below.
    const xs = sh === 1 && sw === 1 ? x : b.op('Slice', [x, b.i64([0, 0]), b.i64([BIG, BIG]), b.i64([2, 3]), b.i64([sh, sw])]);
    const xt = b.op('Transpose', [b.op('Reshape', [xs, b.i64([0, cin, ho * wo])])], {perm: [0, 2, 1]});
    const partial = b.op('MatMul', [b.op('Reshape', [gy, b.i64([0, cout, ho * wo])]), xt]);
    return b.op('Reshape', [b.op('ReduceSum', [partial, b.i64([0])], {keepdims: 0}), b.i64([cout, cin, 1, 1])]);
  }
  const dyr = b.op('Reshape', [b.op('Transpose', [gy], {perm: [1, 0, 2, 3]}), b.i64([cout, -1])]);
  const channelsLast = b.op('Transpose', [x], {perm: [0, 2, 3, 1]});
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0) {
    return b.op('Reshape', [b.op('Gemm', [dyr, b.op('Reshape', [channelsLast, b.i64([-1, cin])])]), b.i64([cout, cin, 1, 1])]);
  }
  const cols = b.op('Reshape', [im2colColumns(b, channelsLast, cin, [h, w], [ho, wo], [kh, kw], [sh, sw], [ph, pw], [1, 1]), b.i64([-1, kh * kw * cin])]);
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
