/**
 * What a node kind is: one file per kind (models/kinds/*.ts) says everything every interpreter needs of it, against
 * the small interfaces below, which the interpreters implement — the ONNX writer (`onnx/writer.ts`), the ONNX
 * Runtime engine's training graph (`src/train/ort/train-graph.ts`), the TensorFlow.js engine
 * (`src/train/tfjs/network.ts`) and the ONNX importer (`onnx/import/graph.ts`). The interfaces live here, at the
 * bottom, so that a kind file imports nothing above `models/` and every interpreter depends on the kinds, never the
 * other way round.
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

/**
 * `bn_weight`, `bn_bias`: a normalisation's learned scale and shift (batch norm, layer norm: 1 and 0 when fresh, trained
 * without weight decay, never constrained). `slope`: a PReLU's learned slope; `embedding`: a learned tensor a token
 * model adds or prepends to its tokens (a position embedding, a class token); `layer_scale`: a learned tensor a block's
 * output is multiplied by (ConvNeXt's layer scale, 1e-6 when fresh). These train without weight decay and are never
 * constrained.
 */
export type ParamRole = 'weight' | 'bias' | 'bn_weight' | 'bn_bias' | 'running_mean' | 'running_var' | 'scale' | 'slope' | 'embedding' | 'layer_scale';

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
  /** A float32 constant of any shape, shared under `key` (which must determine the values): a resize's matrices. */
  f32Table(key: string, shape: readonly number[], values: Float32Array): string;
  /** A float32 constant: a scalar, or `shape` filled with the value. */
  f32(value: number, shape?: readonly number[]): string;
  f32Vector(values: readonly number[]): string;
}

/** Where a band's gradient lies in its value (TrainingGraph.accumulateBand). */
export interface Band {
  readonly axis: number;
  readonly start: number;
  readonly size: number;
  readonly length: number;
  readonly rank: number;
}

/** A band's gradient as the whole value's: zeros padded before and after it on its axis. */
export function padBand(o: Ops, grad: string, band: Band): string {
  const pads = new Array<number>(2 * band.rank).fill(0);
  pads[band.axis] = band.start;
  pads[band.rank + band.axis] = band.length - band.start - band.size;
  return o.op('Pad', [grad, o.i64(pads)]);
}

/** The inference graph a kind writes into (onnx/writer.ts). */
export interface InferenceGraph {
  readonly ops: Ops;
  /** The default domain's opset the file declares: a kind may write an operator that opset brings (LayerNormalization from 17). */
  readonly opset: number;
  /** The graph value of a spec value (the image input, or an earlier node's output). */
  value(name: string): string;
  /** Per-sample shape of a spec value: [C, H, W], [F], or tokens [T, C] (and the like, batch first). */
  shape(name: string): readonly number[];
  /** The node's last ONNX node: named after the layer, its output the layer's value (or the graph's logits). */
  emit(node: NodeBase, type: string, inputs: readonly string[], attrs?: Record<string, Attr>): void;
  /** The weight of a layer as the export stores it (float32, or codes restored in-graph); `count` values expected. */
  weight(node: WeightLayer, count: number): string;
  /** A float32 tensor of the weights (`${node}.${suffix}`) as an initializer. */
  param(key: string): string;
  /**
   * A dense layer's y = x·Wᵀ (+ its `${node}.bias`) as one product on packed weights, emitted as the node's output,
   * where the export stores the layer that way (`--weights fast`: ONNX Runtime's MatMulNBits, for layers of one row
   * per sample); false where it does not, and the kind writes its own product of `weight`. `rowsPerSample`: 1 on
   * features [F], T on tokens [T, C].
   */
  packedDense(node: WeightLayer, x: string, inFeatures: number, outFeatures: number, bias: boolean, rowsPerSample: number): boolean;
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
  /** Per-sample shape of a spec value: [C, H, W], [F], or tokens [T, C] (and the like, batch first). */
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
   * The gradient of one band of a value (a slice's): `grad` holds positions [start, start + size) of `axis` (an ONNX
   * axis, batch first, of a value of rank `rank`) whose length is `length`, and zeros lie elsewhere. Bands of one
   * value that tile the axis between them are joined by one Concat, instead of each padded to the whole value and summed.
   */
  accumulateBand(value: string, grad: string, band: Band): void;
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
  /** A list of `count[0]` to `count[1]` whole numbers in [min, max] (a shape, a permutation). */
  ints(key: string, min: number, max: number, count: Pair): readonly number[];
  /** A finite number in [min, max]. */
  num(key: string, min: number, max: number): number;
  flag(key: string): boolean;
  /** Whether the node has the field (optional fields, added to a kind after specs were stored without them). */
  has(key: string): boolean;
  /** One of `words` (a mode an ONNX attribute names, e.g. a Resize's coordinate transformation). */
  word<W extends string>(key: string, words: readonly W[]): W;
}

/** The symbolic batch size in a constant the importer folded: Shape of [N, C, H, W] gives [N, C, H, W] with N unknown. */
export const BATCH = 'N';

/**
 * A constant an ONNX node reads: an initializer, a Constant, or what the importer folded from them and from static
 * shapes. Integers (int64, int32, bool) may hold the symbolic batch size.
 */
export type OnnxConst =
  | {readonly kind: 'int'; readonly dims: readonly number[]; readonly values: readonly (number | typeof BATCH)[]}
  | {readonly kind: 'float'; readonly dims: readonly number[]; readonly values: Float32Array};

/** A value an ONNX node reads that is computed from the image input: the spec value and its per-sample shape. */
export interface OnnxValue {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * A value partway through a pattern of several ONNX nodes that one kind maps as a whole (ShuffleNet's Reshape,
 * Transpose, Reshape): any node that reads it is given to the kind that made it.
 */
export interface OnnxHeld {
  /** The kind that made it. */
  readonly kind: string;
  /** How far the pattern has come (the kind's own word for it). */
  readonly step: string;
  /** The computed value the pattern started from. */
  readonly value: OnnxValue;
  /** A number the kind keeps with it (a channel shuffle's groups; a layer norm's count of axes, later its ε). */
  readonly count: number;
}

/** The largest kernel, stride, dilation or padding, and the largest input side, cbp imports from ONNX. */
export const MAX_IMPORT_SIDE = 4096;

/** An ONNX node's op type and attributes: what a kind judges before the node's inputs are known. */
export interface OnnxAttributes {
  /** The op type (default domain). */
  readonly op: string;
  /** An int attribute, or `def` when it is absent or holds no int. */
  int(name: string, def: number): number;
  ints(name: string): readonly number[] | undefined;
  /** A float attribute, or `def` when it is absent or holds no float. */
  float(name: string, def: number): number;
  /** A string attribute as UTF-8, or '' when it is absent. */
  string(name: string): string;
  /** How many outputs the node has. */
  readonly outputs: number;
  /** Whether output k is read by a node the graph's output needs (or is that output). */
  outputUsed(k: number): boolean;
}

/**
 * A node ahead of the walk, as a kind sees it before it starts a pattern of several nodes there (`OnnxNode.readers`):
 * its op type and attributes, the names of the values it reads, and the nodes that read its output.
 */
export interface OnnxAhead extends OnnxAttributes {
  /** The names in the file of the values it reads ('' for an input left out). */
  readonly inputNames: readonly string[];
  /** The name in the file of its output 0. */
  readonly output: string;
  /** The nodes the graph's output needs that read its output 0, each once. */
  readers(): readonly OnnxAhead[];
}

/** One node of `node.made(k)`: a spec node of the kind's own, made from an earlier ONNX node. */
export interface OnnxMade<N> {
  readonly node: N;
  /** The op type of the ONNX node it was made from. */
  readonly op: string;
  /** How many inputs of the nodes the graph's output needs read that node's output. */
  readonly readers: number;
  /** Puts `node` in its place in the spec (same name). */
  replace(node: N): void;
}

/**
 * An ONNX node as the importer (`onnx/import/graph.ts`) gives it to the kind that claims its op: its attributes,
 * its inputs (computed values with their per-sample shapes, or constants), and what the kind may do with it. A
 * mapper either maps the node (`emit`, `pass` or `hold`, for output 0) or returns why it does not: the importer
 * lists every such node, by that reason, in one error. `fail` is for a file that is wrong, not unsupported.
 */
export interface OnnxNode<N> extends OnnxAttributes {
  /** How many inputs the node lists (empty names included). */
  readonly inputs: number;
  /**
   * The computed value the node reads first (input 0). When it is not one, the importer refuses the node as
   * `<op> of constants only` and this call does not return.
   */
  input(): OnnxValue;
  /** Input k as a computed value, or undefined. */
  computed(k: number): OnnxValue | undefined;
  /** Whether input k is named (ONNX leaves an optional input out with an empty name). */
  given(k: number): boolean;
  /** The name of input k in the file ('' when it is not given). */
  inputName(k: number): string;
  /** Input k as a constant, or undefined (a computed value, or none). */
  constant(k: number): OnnxConst | undefined;
  /**
   * Input k as a parameter (`what`: `weight`, `bias`, …): a float constant of finite values, of dims `expect` when
   * given; anything else fails the import naming the node and the value.
   */
  param(k: number, what: string, expect?: readonly number[]): {readonly name: string; readonly dims: readonly number[]; readonly values: Float32Array};
  /** The state_dict prefix in input k's name (`layer1.0.bn1.weight` → `layer1.0.bn1` for `weight`), unless the exporter named it itself. */
  stateName(k: number, suffix: string): string | undefined;
  /**
   * A name for a new layer, unique in the spec: `fromParam`, else the module path torch.onnx.export wrote into the
   * node's name (`/layer1/layer1.0/relu/Relu` → `layer1.0.relu`), else the node's name, else `base` (the op type in
   * lower case by default).
   */
  layerName(fromParam?: string, base?: string): string;
  /** Fails the import (BAD_ONNX): `why` follows the node's name and op type. */
  fail(why: string): never;
  /** A tensor of the new layer (`${layer}.${suffix}`, PyTorch's layout) for the weights. */
  tensor(key: string, shape: readonly number[], data: Float32Array): void;
  /**
   * Adds `node` to the spec, as the value of output 0, given its inputs' per-sample shapes; a node its kind's `check`
   * refuses is refused (listed as `<op> whose <kind> <why>`) and this call does not return.
   */
  emit(node: N, inputs: readonly (readonly number[])[]): void;
  /** Adds `node` to the spec as the value of output k (one part of a Split); a node its kind's `check` refuses fails the import. */
  emitOutput(k: number, node: N, inputs: readonly (readonly number[])[]): void;
  /** Output 0 is the computed value `value` (the node does nothing the spec keeps). */
  pass(value: OnnxValue): void;
  /** Output 0 is a value partway through a pattern this kind maps (see `OnnxHeld`). */
  hold(step: string, value: OnnxValue, count: number): void;
  /** Output k is a value partway through a pattern this kind maps (one part of a Split). */
  holdOutput(k: number, step: string, value: OnnxValue, count: number): void;
  /** Input k as a value this kind holds, or undefined. */
  held(k: number): OnnxHeld | undefined;
  /** Whether the node reads a value this kind holds (at any input): the importer gave it the node for that reason. */
  readonly holding: boolean;
  /**
   * The node of this kind made from the ONNX node whose first output is input k, or passed on by one (`pass` of the
   * node's value: a MatMul's bias, a layer norm's weight; `op` is then the op that passed it), or undefined.
   */
  made(k: number): OnnxMade<N> | undefined;
  /**
   * The nodes the graph's output needs that read output 0, each once, ahead of the walk: a kind that would start a
   * pattern at a node another kind maps looks whether the pattern goes on before it holds the node.
   */
  readers(): readonly OnnxAhead[];
  /**
   * Says that the layer's bias is one an eval-mode export made by folding a batch norm into it: the importer warns
   * when the spec then has no batch norm.
   */
  foldedBatchNorm(): void;
}

/**
 * How `cbp import` reads a kind from ONNX files. An op several kinds claim goes to each, in registry order, until one
 * maps it; when none does, the node is refused with the first one's reason (by its op type when none gave one).
 */
export interface OnnxImport<N> {
  /** The ONNX operators (default domain) the kind maps. */
  readonly ops: readonly string[];
  /**
   * Why a node of one of these ops is not mapped, from its attributes alone (judged also where its inputs are
   * unknown). An op several kinds claim is refused so only when each of them refuses it.
   */
  refuses?(node: OnnxAttributes): string | undefined;
  /**
   * Maps the node onto this kind; returns why it does not, or undefined when it did. '' says the node is nothing to
   * this kind, which claims the op only for a pattern the node does not start: the next kind's reason is the node's.
   * A node that reads a value this kind holds is this kind's alone, and a reason for it is never ''.
   */
  map(node: OnnxNode<N>): string | undefined;
}

/**
 * A node's 2-d window attributes (Conv, MaxPool, AveragePool), or why they are not a symmetric 2-d window (undilated,
 * unless a Conv's).
 */
export function onnxWindow(node: OnnxAttributes): {kernel?: Pair; stride: Pair; padding: Pair; dilation: Pair} | string {
  const kernel = node.ints('kernel_shape');
  if (kernel !== undefined && kernel.length > 0 && kernel.length !== 2) return `${node.op} that is not 2-d`;
  const autoPad = node.string('auto_pad');
  if (autoPad !== '' && autoPad !== 'NOTSET' && autoPad !== 'VALID') return `${node.op} with auto_pad ${autoPad}`;
  const dil = node.ints('dilations') ?? [];
  if (dil.length > 0 && dil.length !== 2) return `${node.op} that is not 2-d`;
  if (dil.some((d) => d < 1)) return `${node.op} with dilations below 1`;
  if (dil.some((d) => d !== 1) && node.op !== 'Conv') return `${node.op} with dilation`;
  const strides = node.ints('strides') ?? [];
  const pads = autoPad === 'VALID' ? [] : node.ints('pads') ?? [];
  if (strides.length > 0 && strides.length !== 2) return `${node.op} that is not 2-d`;
  if (pads.length > 0 && (pads.length !== 4 || pads[0] !== pads[2] || pads[1] !== pads[3])) return `${node.op} with asymmetric padding`;
  const inRange = (values: readonly number[], min: number): boolean => values.every((v) => Number.isSafeInteger(v) && v >= min && v <= MAX_IMPORT_SIDE);
  if (!inRange(kernel ?? [], 1) || !inRange(strides, 1) || !inRange(dil, 1) || !inRange(pads, 0)) return `${node.op} with a kernel, stride, dilation or padding outside 0 to ${MAX_IMPORT_SIDE}`;
  return {
    ...(kernel !== undefined && kernel.length === 2 ? {kernel: [kernel[0], kernel[1]] as const} : {}),
    stride: strides.length === 2 ? [strides[0], strides[1]] : [1, 1],
    padding: pads.length === 4 ? [pads[0], pads[1]] : [0, 0],
    dilation: dil.length === 2 ? [dil[0], dil[1]] : [1, 1],
  };
}

/** The most channels or features a stored spec's layer may have, and the largest kernel, stride or padding. */
export const MAX_WIDTH = 1 << 20;
/** The most axes per sample a value of a stored spec may have (tokens [T, C]; an attention's [T, 3, heads, d]). */
export const MAX_AXES = 8;
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
  /** How `cbp import` maps ONNX nodes onto this kind, or undefined: no ONNX op imports as it. */
  readonly fromOnnx?: OnnxImport<N>;
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

/** Why an ONNX MaxPool or AveragePool is not a 2-d pooling window cbp maps, from its attributes, or undefined. */
export function notOnnxPool(node: OnnxAttributes): string | undefined {
  const w = onnxWindow(node);
  if (typeof w === 'string') return w;
  return w.kernel === undefined ? `${node.op} without a 2-d kernel_shape` : undefined;
}

/** The name, input and window of a pooling node mapped from an ONNX MaxPool or AveragePool reading `x`. */
export function onnxPool<N>(node: OnnxNode<N>, x: OnnxValue): {readonly name: string; readonly input: string} & PoolWindow {
  const win = onnxWindow(node);
  if (typeof win === 'string' || win.kernel === undefined) return node.fail('has no 2-d kernel_shape');
  return {name: node.layerName(), input: x.name, kernel: win.kernel, stride: win.stride, padding: win.padding, ...(node.int('ceil_mode', 0) !== 0 ? {ceil: true} : {})};
}

/** ONNX's FLOAT element type, for Cast. */
const FLOAT32 = 1;

/**
 * A gradient passed where a boolean mask holds and 0 elsewhere (an activation's backward pass): gy times the mask
 * cast to float. ONNX Runtime's Where runs on one thread where Mul runs on all; measured on [32, 96, 112, 112] (a
 * MobileNetV2 ReLU6), both cores: a ReLU's Where 88 ms against 50 ms this way, a ReLU6's 106 against 58 ms.
 * Where gy is ±Inf outside the mask this gives NaN rather than 0: a gradient that overflowed is not finite either way.
 */
export function passWhere(o: Ops, mask: string, gy: string): string {
  return o.op('Mul', [gy, o.op('Cast', [mask], {to: FLOAT32})]);
}
