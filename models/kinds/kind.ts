/**
 * What a node kind is: one file per kind (models/kinds/*.ts) says everything every interpreter needs of it, against
 * the small interfaces below, which the interpreters implement — the ONNX writer (`onnx/writer.ts`), the ONNX
 * Runtime engine's training graph (`src/train/ort/train-graph.ts`) and the TensorFlow.js engine
 * (`src/train/tfjs/network.ts`). The interfaces live here, at the bottom, so that a kind file imports nothing above
 * `models/` and every interpreter depends on the kinds, never the other way round.
 */

export type Pair = readonly [number, number];

/** The name of the network's input image batch in a spec. */
export const INPUT = 'input';

export interface NodeBase {
  /** PyTorch state_dict prefix of the layer (`features.4`, `layer1.0.conv1`), unique within the spec. */
  readonly name: string;
}

/** A layer with a weight CBP may constrain (convolutions, dense layers). */
export interface WeightLayer extends NodeBase {
  /** Whether CBP constrains this layer's weights (first conv and last dense stay full precision). */
  readonly constrained: boolean;
}

export type ParamRole = 'weight' | 'bias' | 'bn_weight' | 'bn_bias' | 'running_mean' | 'running_var' | 'scale';

/** One tensor of a node, named `${node.name}.${suffix}` as PyTorch's state_dict names it. */
export interface ParamSpec {
  readonly suffix: string;
  readonly role: ParamRole;
  readonly shape: readonly number[];
  /** Updated by the optimizer (running statistics and scales are not). */
  readonly trainable: boolean;
}

/** An ONNX attribute value: int, ints, string or {float}. */
export type Attr = number | readonly number[] | string | {readonly float: number};

/** Emits ONNX nodes and shared constants (onnx/graph-builder.ts implements it). */
export interface Ops {
  /** One node with one output (named `name` when given); returns the output's name. */
  op(type: string, inputs: readonly string[], attrs?: Record<string, Attr>, name?: string): string;
  /** One node of another operator domain (e.g. ONNX Runtime's `com.microsoft.nchwc`). */
  opIn(domain: string, type: string, inputs: readonly string[], attrs?: Record<string, Attr>, name?: string): string;
  /** One node with several outputs. */
  opN(type: string, inputs: readonly string[], outputs: number, attrs?: Record<string, Attr>): string[];
  i64(values: readonly number[]): string;
  /** An int64 constant of any shape, shared under `key` (which must determine the values). */
  i64Table(key: string, shape: readonly number[], values: BigInt64Array): string;
  /** A float32 constant: a scalar, or `shape` filled with the value. */
  f32(value: number, shape?: readonly number[]): string;
  f32Vector(values: readonly number[]): string;
}

/** The inference graph a kind writes into (onnx/writer.ts). */
export interface InferenceGraph {
  readonly ops: Ops;
  /** The graph value of a spec value (the image input, or an earlier node's output). */
  value(name: string): string;
  /** The node's last ONNX node: named after the layer, its output the layer's value (or the graph's logits). */
  emit(node: NodeBase, type: string, inputs: readonly string[], attrs?: Record<string, Attr>): void;
  /** The weight of a layer as the export stores it (float32, or codes restored in-graph); `count` values expected. */
  weight(node: WeightLayer, count: number): string;
  /** A float32 tensor of the weights (`${node}.${suffix}`) as an initializer. */
  param(key: string): string;
  /**
   * A dense layer's y = x·Wᵀ (+ its `${node}.bias`) as one product on packed weights, emitted as the node's output,
   * where the export stores the layer that way (`--weights fast`: ONNX Runtime's MatMulNBits); false where it does
   * not, and the kind writes its own product of `weight`.
   */
  packedDense(node: WeightLayer, x: string, inFeatures: number, outFeatures: number, bias: boolean): boolean;
}

/** Convolution formulations the training graph measured fastest (src/train/ort/train-graph.ts). */
export interface ConvolutionOps {
  /** A Conv (inputs x, w[, bias]) of cin → cout channels, on the blocked kernel where it fits. */
  forward(inputs: readonly string[], cin: number, cout: number, attrs: Record<string, Attr>, name?: string): string;
  inputGrad(gy: string, w: string, c: ConvGeometry): string;
  filterGrad(x: string, gy: string, c: ConvGeometry): string;
}

export interface ConvGeometry {
  readonly cin: number;
  readonly cout: number;
  /** Input and output height, width. */
  readonly in: Pair;
  readonly out: Pair;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  /** Channel groups (1: a dense convolution; cin: depthwise). */
  readonly groups: number;
  readonly dilation: Pair;
}

/** The training graph a kind writes its forward pass (training mode) and backward pass into. */
export interface TrainingGraph {
  readonly ops: Ops;
  readonly conv: ConvolutionOps;
  /** The graph value of a spec value. */
  value(name: string): string;
  /** Per-sample shape of a spec value: [C, H, W] or [F]. */
  shape(name: string): readonly number[];
  /** A trainable tensor fed to the graph (its gradient becomes an output). */
  param(key: string, shape: readonly number[]): string;
  /** Whether anything needs the gradient of a spec value (the images need none). */
  needsGrad(name: string): boolean;
  /** Runs `fn` in the backward pass, in reverse order of the forward pass. */
  backward(fn: () => void): void;
  /** The summed gradient of a graph value, or undefined when nothing reaches it. */
  gradOf(value: string): string | undefined;
  accumulate(value: string, grad: string): void;
  /**
   * A dropout mask fed to each step: [N, ...perSample] values 0 (probability p) or 1/(1 − p), drawn by the engine
   * from the run's seeded generator. Returns its graph value.
   */
  dropoutMask(layer: string, p: number, perSample: readonly number[]): string;
  /** A batch norm's biased batch statistics, as outputs for the running-statistics update. */
  batchStats(layer: string, mean: string, variance: string, channels: number, perSample: number): void;
}

/**
 * The TensorFlow.js engine's kernels (src/train/tfjs/network.ts), over its tensor type T in NHWC. A kind's tfjs
 * implementation wires them; a kind without one is refused by that engine.
 */
export interface TfjsKernels<T> {
  readonly training: boolean;
  /** A tensor of the model (`${layer}.${suffix}`), in the engine's layout. */
  param(key: string): T;
  /** A weight layer's weight as the forward pass uses it (quantized, straight-through, when constrained). */
  weight(node: WeightLayer): T;
  conv2d(x: T, w: T, stride: Pair, padding: Pair, firstLayer: boolean): T;
  dense(x: T, w: T): T;
  batchNorm(layer: string, eps: number, x: T): T;
  maxPool(x: T, kernel: Pair, stride: Pair, padding: Pair): T;
  avgPool(layer: string, x: T, kernel: Pair, stride: Pair, padding: Pair): T;
  /** Mean over height and width, keeping them as 1 × 1. */
  spatialMean(x: T): T;
  add(a: T, b: T): T;
  relu(x: T): T;
  /** NHWC → [N, C·H·W] in PyTorch's (channel-major) order; a rank-2 tensor as it is. */
  flatten(x: T): T;
}

/**
 * Reads a node's fields from a stored spec (a run state imported from an ONNX file, src/run/spec-schema.ts): each
 * method checks its field's type and bounds and fails naming the field, so a kind builds its node from checked
 * values only.
 */
export interface NodeReader {
  /** The node's name, already checked (non-empty, bounded, not the input's name). */
  readonly name: string;
  /** The name of a spec value the node reads (checked to be defined earlier when the spec is checked). */
  value(key: string): string;
  /** Two spec values. */
  valuePair(key: string): readonly [string, string];
  /** A list of `min` to `max` spec values. */
  values(key: string, min: number, max: number): readonly string[];
  /** A whole number in [min, max]. */
  int(key: string, min: number, max: number): number;
  /** Two whole numbers in [min, max]. */
  pair(key: string, min: number, max: number): Pair;
  /** A finite number in [min, max]. */
  num(key: string, min: number, max: number): number;
  flag(key: string): boolean;
  /** Whether the node has the field (optional fields, added to a kind after specs were stored without them). */
  has(key: string): boolean;
}

/** The most channels or features a stored spec's layer may have, and the largest kernel, stride or padding. */
export const MAX_WIDTH = 1 << 20;
export const MAX_WINDOW = 4096;

/**
 * Everything about one node kind. Members are methods (checked bivariantly), so that the definition of one kind is a
 * KindDef of any spec node and the interpreters look a node's kind up without a cast.
 */
export interface KindDef<N extends NodeBase & {readonly kind: string}> {
  readonly kind: N['kind'];
  /** The spec values the node reads. */
  inputs(node: N): readonly string[];
  /** Per-sample output shape from the inputs' per-sample shapes (which `check` accepted). */
  shape(node: N, inputs: readonly (readonly number[])[]): readonly number[];
  /** Why the node cannot take inputs of these per-sample shapes, or undefined when it can. */
  check(node: N, inputs: readonly (readonly number[])[]): string | undefined;
  /** The node from a stored spec's fields (the `kind` and `name` already read). */
  read(r: NodeReader): N;
  /** Its tensors, as PyTorch's state_dict names them (CBP's `scale` is added for constrained layers). */
  params(node: N): readonly ParamSpec[];
  /** Its constrainable weight, when it has one. */
  weight?(node: N): WeightLayer;
  /** The inference ONNX. */
  onnx(node: N, g: InferenceGraph): void;
  /** The forward pass in training mode and its backward pass, for the ONNX Runtime engine. */
  train(node: N, g: TrainingGraph): void;
  /** The TensorFlow.js forward pass, or undefined: that engine refuses models with this kind. */
  tfjs?<T>(node: N, k: TfjsKernels<T>, inputs: readonly T[]): T;
  /** What of this node the TensorFlow.js engine lacks, in training or at inference (e.g. `grouped convolution`), or undefined. */
  tfjsLacks?(node: N, training: boolean): string | undefined;
}

/** ONNX's pads for a symmetric 2-d padding. */
export const pads = (p: Pair): number[] => [p[0], p[1], p[0], p[1]];

/** Output size of a window of k (dilated by d) with stride s and padding p on each side over n positions (floor mode). */
export const windows = (n: number, k: number, s: number, p: number, d = 1): number => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

/**
 * Output size of a pooling window as PyTorch computes it (pooling_output_shape): floor mode as `windows`; ceil mode
 * rounds up, then drops a last window that would start in the right padding.
 */
export function poolWindows(n: number, k: number, s: number, p: number, ceil: boolean): number {
  if (!ceil) return windows(n, k, s, p);
  const out = Math.floor((n + 2 * p - k + s - 1) / s) + 1;
  return (out - 1) * s >= n + p ? out - 1 : out;
}

/** The window of a pooling node (max or average): kernel, stride, symmetric padding and PyTorch's ceil_mode. */
export interface PoolWindow {
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  /** ceil_mode (SqueezeNet, GoogLeNet): a last window may hang off the edge; absent in older specs. */
  readonly ceil?: boolean;
}

/** A pooling node's window from a stored spec (`ceil` only where it is set). */
export function readPoolWindow(r: NodeReader): PoolWindow {
  return {
    kernel: r.pair('kernel', 1, MAX_WINDOW),
    stride: r.pair('stride', 1, MAX_WINDOW),
    padding: r.pair('padding', 0, MAX_WINDOW),
    ...(r.has('ceil') && r.flag('ceil') ? {ceil: true} : {}),
  };
}

/** A pool's per-sample output shape from its input's [C, H, W]. */
export function poolShape(n: PoolWindow, [c, h, w]: readonly number[]): number[] {
  return [c, poolWindows(h, n.kernel[0], n.stride[0], n.padding[0], n.ceil === true), poolWindows(w, n.kernel[1], n.stride[1], n.padding[1], n.ceil === true)];
}

/** Why a pool cannot take an input of this per-sample shape, or undefined. */
export function notPoolInput(n: PoolWindow, x: readonly number[]): string | undefined {
  return notImage(x) ?? notPool(n.kernel, n.padding) ?? notWindow(x[1], x[2], n.kernel, n.stride, n.padding);
}

/** Why a per-sample shape is not an image [C, H, W] (of `channels` channels, when given), or undefined. */
export function notImage(x: readonly number[] | undefined, channels?: number): string | undefined {
  if (x === undefined || x.length !== 3) return `expects an image [C, H, W], its input is [${x?.join(', ') ?? ''}]`;
  if (channels !== undefined && x[0] !== channels) return `expects ${channels} channels, its input has ${x[0]}`;
  return undefined;
}

/** Why a window (kernel, stride, padding) does not fit an image of `h` × `w`, or undefined. */
export function notWindow(h: number, w: number, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = [1, 1]): string | undefined {
  if (stride[0] < 1 || stride[1] < 1 || kernel[0] < 1 || kernel[1] < 1) return 'has a kernel or stride below 1';
  if (windows(h, kernel[0], stride[0], padding[0], dilation[0]) < 1 || windows(w, kernel[1], stride[1], padding[1], dilation[1]) < 1) {
    return `has a ${kernel.join('×')} window${dilation[0] > 1 || dilation[1] > 1 ? ` (dilated ${dilation.join('×')})` : ''} larger than its padded ${h}×${w} input`;
  }
  return undefined;
}

/** Why a pooling window pads more than half its kernel (PyTorch refuses such pools), or undefined. */
export function notPool(kernel: Pair, padding: Pair): string | undefined {
  return padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] ? `pads ${padding.join('×')}, more than half its ${kernel.join('×')} kernel` : undefined;
}
