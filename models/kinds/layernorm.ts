import {MAX_WIDTH, type Attr, type KindDef, type NodeBase, type OnnxAhead, type OnnxNode, type Ops} from './kind';

/**
 * PyTorch's LayerNorm: each sample normalised over its trailing axes (`normalized_shape`: [F] after a flatten or a
 * Linear, [C, H, W] for nn.LayerNorm([C, H, W]), the channels of tokens [T, C]) to mean 0 and variance 1 (biased,
 * ε added), then, with elementwise_affine, times a learned weight and plus a learned bias of that shape. The weight
 * and bias train as a batch norm's do (roles bn_weight and bn_bias: 1 and 0 when fresh, no weight decay, never
 * constrained by CBP). The gradients are PyTorch's layer_norm_backward: with x̂ = (x − mean)·rstd and ĝ = gy·weight,
 * dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) over the normalised axes; the weight's Σ gy·x̂ and the bias's Σ gy over the
 * batch and the axes before them.
 *
 * torchvision's LayerNorm2d (ConvNeXt) normalises the channels of an image [C, H, W] instead: the same node with
 * `axis` 0, its weight and bias [C].
 *
 * Imported from ONNX's LayerNormalization (opset 17) and from the nodes torch 1.13 writes for it at opset 13
 * (`PATTERN`; LayerNorm2d's between a Transpose to channels-last and one back), which are mapped back onto one node.
 * The export writes a layer norm over trailing axes as ONNX Runtime fuses it (LayerNormalization from opset 17,
 * torch's opset-13 nodes before), and LayerNorm2d's with ReduceSum (whose axes are an input at every opset from 13)
 * for ReduceMean, on the axes in place.
 */
export interface LayerNormNode extends NodeBase {
  readonly kind: 'layernorm';
  readonly input: string;
  /** PyTorch's normalized_shape: the trailing axes of the per-sample shape normalised together (from `axis` on). */
  readonly normalized: readonly number[];
  /**
   * The per-sample axis the normalised axes start at, where they are not the last ones: 0 for torchvision's
   * LayerNorm2d over the channels of [C, H, W]. Absent: the trailing axes (nn.LayerNorm).
   */
  readonly axis?: number;
  readonly eps: number;
  /** A learned weight of the normalised shape (elementwise_affine). */
  readonly weight: boolean;
  /** A learned bias of the normalised shape (elementwise_affine, unless bias=False). */
  readonly bias: boolean;
}

/** The most normalised axes a stored spec's layer norm may have. */
const MAX_AXES = 8;

const PATTERN = 'ReduceMean → Sub → Pow(2) → ReduceMean → Add(ε) → Sqrt → Div';

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The ONNX axes (batch first) of the last `k` axes of a per-sample shape of rank `rank`. */
const trailing = (rank: number, k: number): number[] => Array.from({length: k}, (_, i) => rank + 1 - k + i);

/** The first normalised per-sample axis of a node on an input of rank `rank`. */
const firstAxis = (n: LayerNormNode, rank: number): number => n.axis ?? rank - n.normalized.length;

/** The ONNX axes (batch first) a node normalises, and the others (the batch among them): what its parameters are shared over. */
function axesOf(n: LayerNormNode, rank: number): {inner: number[]; outer: number[]} {
  const first = firstAxis(n, rank) + 1;
  const all = Array.from({length: rank + 1}, (_, i) => i);
  return {inner: all.filter((a) => a >= first && a < first + n.normalized.length), outer: all.filter((a) => a < first || a >= first + n.normalized.length)};
}

/** A weight or bias [normalized] as it broadcasts over [N, ...x]: with a 1 for each axis after the normalised ones. */
function broadcast(o: Ops, t: string | undefined, n: LayerNormNode, rank: number): string | undefined {
  const after = rank - firstAxis(n, rank) - n.normalized.length;
  return t === undefined || after === 0 ? t : o.op('Reshape', [t, o.i64([...n.normalized, ...new Array<number>(after).fill(1)])]);
}

/** Whether a node normalises the trailing axes of its input of rank `rank` (not LayerNorm2d's channels of [C, H, W]). */
const overTrailing = (n: LayerNormNode, rank: number): boolean => firstAxis(n, rank) + n.normalized.length === rank;

/** ONNX's LayerNormalization (opset 17) of such a node: its inputs (a Scale of ones without a weight) and attributes. */
function layerNormalization(o: Ops, n: LayerNormNode, x: string, weight: string | undefined, bias: string | undefined): {inputs: string[]; attrs: Record<string, Attr>} {
  return {inputs: [x, weight ?? o.f32(1, n.normalized), ...(bias === undefined ? [] : [bias])], attrs: {axis: -n.normalized.length, epsilon: {float: n.eps}}};
}

/** The normalised value (x − mean)/√(variance + ε) and what the backward pass reads. */
function normalise(o: Ops, x: string, n: LayerNormNode, rank: number): {centred: string; std: string; axes: string} {
  const axes = o.i64(axesOf(n, rank).inner);
  const count = o.f32(product(n.normalized));
  const mean = (t: string): string => o.op('Div', [o.op('ReduceSum', [t, axes], {keepdims: 1}), count]);
  const centred = o.op('Sub', [x, mean(x)]);
  const variance = mean(o.op('Mul', [centred, centred]));
  return {centred, std: o.op('Sqrt', [o.op('Add', [variance, o.f32(n.eps)])]), axes};
}

/** The last node's op and inputs: Div of the normalised value, then Mul by the weight, then Add of the bias. */
function affine(o: Ops, n: LayerNormNode, centred: string, std: string, weight?: string, bias?: string): {op: string; inputs: [string, string]} {
  let last: {op: string; inputs: [string, string]} = {op: 'Div', inputs: [centred, std]};
  const out = (): string => o.op(last.op, last.inputs);
  if (weight !== undefined) last = {op: 'Mul', inputs: [out(), weight]};
  if (bias !== undefined) last = {op: 'Add', inputs: [out(), bias]};
  return last;
}

/** Why per-sample shape x does not hold the normalised shape (at the end, or from `axis` on), or undefined. */
function notNormalised(n: LayerNormNode, x: readonly number[]): string | undefined {
  const k = n.normalized.length;
  const first = firstAxis(n, x.length);
  if (k >= 1 && first >= 0 && first + k <= x.length && x.slice(first, first + k).every((d, i) => d === n.normalized[i])) return undefined;
  return n.axis === undefined ? `normalises over [${n.normalized.join(', ')}], which its input [${x.join(', ')}] does not end in` : `normalises over [${n.normalized.join(', ')}] from axis ${n.axis}, which its input [${x.join(', ')}] does not have there`;
}

/** The axes an ONNX ReduceMean of a value of per-sample shape `x` reads (attribute, or from opset 18 input 1), as a count of trailing axes; or why not. */
function trailingAxes(o: OnnxNode<LayerNormNode>, x: readonly number[]): number | string {
  const rank = x.length;
  const given = o.given(1) ? o.constant(1) : undefined;
  const axes = given?.kind === 'int' ? given.values : o.ints('axes');
  if (axes === undefined || axes.length === 0) return 'ReduceMean over every axis (the batch too)';
  const at = axes.map((a) => (typeof a === 'number' && a < 0 ? a + rank + 1 : a));
  const sorted = at.filter((a): a is number => typeof a === 'number').sort((a, b) => a - b);
  const want = trailing(rank, at.length);
  if (at.length > rank || !want.every((a, i) => sorted[i] === a)) return `ReduceMean over axes [${axes.join(', ')}] of [N, ${x.join(', ')}], not its last axes`;
  if (o.int('keepdims', 1) === 0) return 'ReduceMean without keepdims';
  return at.length;
}

/**
 * A node of torch's LayerNorm pattern (`PATTERN`), which reads a value this kind holds: the pattern's next step, or
 * the reason it is not one, naming what LayerNorm has there. Held values: `channels-last` (LayerNorm2d's x
 * transposed to [N, H, W, C]), `mean`, `centred` (x − mean), `square`, `variance`, keeping the count of normalised
 * trailing axes (0: LayerNorm2d's channels, the last axis of the transposed x); `variance+eps` and `std`, keeping ε.
 */
function next(o: OnnxNode<LayerNormNode>): string | undefined {
  const k = o.held(0) !== undefined ? 0 : 1;
  const held = o.held(k);
  if (held === undefined) return `LayerNorm-like pattern at ${o.layerName()}: ${o.op} reads a value partway through it (${PATTERN})`;
  const x = held.value;
  // LayerNorm2d's pattern runs on x transposed to channels-last, over its last axis.
  const [c, h, w] = x.shape;
  const channels = held.count === 0 && held.step !== 'variance+eps' && held.step !== 'std';
  const shape = channels ? [h, w, c] : x.shape;
  const axes = channels ? 1 : held.count;
  const missing = (what: string): string => `LayerNorm-like pattern at ${o.layerName()}: ${what} (LayerNorm is ${PATTERN})`;
  const scalar = (i: number): number | undefined => {
    const c = o.constant(i);
    return c?.kind === 'float' && c.values.length === 1 && c.dims.length <= x.shape.length + 1 ? c.values[0] : undefined;
  };
  switch (held.step) {
    case 'channels-last': {
      if (o.op === 'ReduceMean') {
        const over = trailingAxes(o, shape);
        if (over !== 1) return missing(`ReduceMean of x transposed to channels-last over other axes than the channels${typeof over === 'string' ? ` (${over})` : ''}`);
        o.hold('mean', x, 0);
        return undefined;
      }
      const mean = o.held(1);
      if (o.op !== 'Sub' || k !== 0 || mean?.step !== 'mean' || mean.count !== 0 || mean.value.name !== x.name) return missing(`${o.op} reads x transposed to channels-last where LayerNorm2d takes the mean of its channels and subtracts it`);
      o.hold('centred', x, 0);
      return undefined;
    }
    case 'mean':
      if (o.op !== 'Sub' || k !== 1 || o.inputs !== 2 || o.computed(0)?.name !== x.name) return missing(`${o.op} reads the mean where LayerNorm subtracts it from x (Sub(x, mean))`);
      o.hold('centred', x, held.count);
      return undefined;
    case 'centred': {
      if (o.op === 'Div') {
        const std = o.held(1);
        if (k !== 0 || std?.step !== 'std' || std.value.name !== x.name) return missing('Div of x − mean by a value other than √(variance + ε) of the same x');
        // LayerNorm2d's value is channels-last in the file up to the Transpose back, which startsChannelsLast saw
        // follows (after the weight and bias at most): the layer is in place, over the channels.
        const normalized = channels ? [c] : x.shape.slice(x.shape.length - held.count);
        o.emit({kind: 'layernorm', name: o.layerName(undefined, 'layernorm'), input: x.name, normalized, ...(channels ? {axis: 0} : {}), eps: std.count, weight: false, bias: false}, [x.shape]);
        return undefined;
      }
      const squared = o.op === 'Pow' ? o.inputs === 2 && k === 0 && scalar(1) === 2 : o.op === 'Mul' && o.held(0)?.step === 'centred' && o.held(1)?.step === 'centred' && o.inputName(0) === o.inputName(1);
      if (!squared) {
        const exponent = o.op === 'Pow' && k === 0 ? scalar(1) : undefined;
        return missing(o.op === 'Pow' ? `Pow of x − mean by ${exponent ?? 'a value other than a constant'} where LayerNorm squares it (Pow 2)` : `${o.op} reads x − mean where LayerNorm squares it (Pow 2) and divides it by √(variance + ε)`);
      }
      o.hold('square', x, held.count);
      return undefined;
    }
    case 'square': {
      if (o.op !== 'ReduceMean') return missing(`${o.op} reads (x − mean)² where LayerNorm takes its mean over the normalised axes (ReduceMean)`);
      const over = trailingAxes(o, shape);
      if (over !== axes) return missing(`the variance's ReduceMean is over other axes than the mean's${typeof over === 'string' ? ` (${over})` : ''}`);
      o.hold('variance', x, held.count);
      return undefined;
    }
    case 'variance': {
      const eps = o.op === 'Add' && o.inputs === 2 ? scalar(1 - k) : undefined;
      if (eps === undefined) return missing(`${o.op} reads the variance where LayerNorm adds a constant ε to it (Add)`);
      // ε as torch writes it, a float32: rounded back to the decimal it came from, as a batch norm's.
      const rounded = Number(eps.toPrecision(6));
      if (!(rounded >= 0 && rounded <= 1)) return missing(`ε is ${eps}, expected a number in [0, 1]`);
      // From here on the held value keeps ε; the count of axes stays with x − mean, which the Div reads too.
      o.hold('variance+eps', x, rounded);
      return undefined;
    }
    case 'variance+eps':
      if (o.op !== 'Sqrt') return missing(`${o.op} reads variance + ε where LayerNorm takes its square root (Sqrt)`);
      o.hold('std', x, held.count);
      return undefined;
    case 'std':
      // Div(x − mean, std) came as x − mean's next step (input 0).
      return missing(`${o.op} reads √(variance + ε) where LayerNorm divides x − mean by it (Div(x − mean, std))`);
    default:
      return missing(`${o.op} reads a value at step ${held.step}`);
  }
}

/**
 * Whether a Transpose to channels-last starts torchvision's LayerNorm2d: the pattern over the last axis of its output,
 * whose Div leads, through the weight's Mul and the bias's Add at most (each the only reader), to a Transpose back.
 */
function startsChannelsLast(o: OnnxNode<LayerNormNode>): boolean {
  const x = o.computed(0);
  if (x?.shape.length !== 3 || (o.ints('perm') ?? []).join() !== '0,2,3,1') return false;
  const mean = o.readers().find((r) => r.op === 'ReduceMean');
  const transposed = mean?.inputNames[0];
  const sub = o.readers().find((r) => r.op === 'Sub' && r.inputNames[0] === transposed && r.inputNames[1] === mean?.output);
  let at = sub?.readers().find((r) => r.op === 'Div' && r.inputNames[0] === sub.output);
  for (let steps = 0; at !== undefined && steps < 3; steps++) {
    const readers = at.readers();
    const r: OnnxAhead | undefined = readers.length === 1 ? readers[0] : undefined;
    if (r?.op === 'Transpose') return (r.ints('perm') ?? []).join() === '0,3,1,2';
    at = r?.op === 'Mul' || r?.op === 'Add' ? r : undefined;
  }
  return false;
}

/** Whether a ReduceMean starts torch's LayerNorm pattern: a Sub of its input and it reads its output. */
function startsPattern(o: OnnxNode<LayerNormNode>): boolean {
  const x = o.inputName(0);
  return o.readers().some((r) => r.op === 'Sub' && r.inputNames.length === 2 && r.inputNames.includes(x) && r.inputNames[0] !== r.inputNames[1]);
}

/**
 * The weight (a Mul) or the bias (an Add) of a layer norm made from the pattern's Div: a constant of the normalised
 * shape (leading 1s allowed), the layer norm's value read by this node alone. Returns why not, or '' when the node
 * reads no layer norm of this import.
 */
function affineStep(o: OnnxNode<LayerNormNode>): string | undefined {
  const made = o.computed(1) === undefined ? o.made(0) : undefined;
  if (made === undefined) return '';
  const n = made.node;
  const what = o.op === 'Mul' ? 'weight' : 'bias';
  const after = o.op === 'Mul' ? made.op === 'Div' && !n.weight && !n.bias : made.op === 'Mul' && n.weight && !n.bias;
  if (!after || made.readers !== 1) return '';
  const c = o.constant(1);
  if (c?.kind !== 'float') return '';
  const dims = [...c.dims];
  while (dims.length > n.normalized.length && dims[0] === 1) dims.shift();
  if (dims.join() !== n.normalized.join()) {
    return `LayerNorm-like pattern at ${n.name}: ${o.op} by a constant of dims [${c.dims.join(', ')}] where LayerNorm's ${what} has the normalised shape [${n.normalized.join(', ')}]`;
  }
  const p = o.param(1, what);
  o.tensor(`${n.name}.${what}`, n.normalized, p.values);
  made.replace({...n, [what]: true});
  o.pass(o.input());
  return undefined;
}

export const layernorm: KindDef<LayerNormNode> = {
  kind: 'layernorm',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => notNormalised(n, x),
  read: (r) => ({
    kind: 'layernorm',
    name: r.name,
    input: r.value('input'),
    normalized: r.ints('normalized', 1, MAX_WIDTH, [1, MAX_AXES]),
    ...(r.has('axis') ? {axis: r.int('axis', 0, MAX_AXES - 1)} : {}),
    eps: r.num('eps', 0, 1),
    weight: r.flag('weight'),
    bias: r.flag('bias'),
  }),
  params: (n) => [
    ...(n.weight ? [{suffix: 'weight', role: 'bn_weight' as const, shape: n.normalized, trainable: true}] : []),
    ...(n.bias ? [{suffix: 'bias', role: 'bn_bias' as const, shape: n.normalized, trainable: true}] : []),
  ],
  onnx(n, g) {
    const x0 = g.shape(n.input);
    const rank = x0.length;
    if (overTrailing(n, rank)) {
      // Over the trailing axes, in a form ONNX Runtime runs as one LayerNormalization kernel: the operator itself
      // from opset 17, torch's opset-13 nodes (which its optimiser fuses into it) before. Written with ReduceSum, as
      // LayerNorm2d's below, the study ViT's nine ran as 50 nodes, and the whole file took 1.11× the time at batch 1.
      const o = g.ops;
      const x = g.value(n.input);
      const weight = n.weight ? g.param(`${n.name}.weight`) : undefined;
      const bias = n.bias ? g.param(`${n.name}.bias`) : undefined;
      if (g.opset >= 17) {
        const op = layerNormalization(o, n, x, weight, bias);
        g.emit(n, 'LayerNormalization', op.inputs, op.attrs);
        return;
      }
      // ONNX Runtime fuses the pattern over the last axis only: several normalised axes are flattened into one
      // around it (views, no copies), the weight and bias with them (folded at load).
      const k = n.normalized.length;
      const flat = k > 1;
      const size = product(n.normalized);
      const view = (t: string | undefined): string | undefined => (t === undefined || !flat ? t : o.op('Reshape', [t, o.i64([size])]));
      const input = flat ? o.op('Reshape', [x, o.i64([0, ...x0.slice(0, rank - k), size])]) : x;
      const mean = (t: string): string => o.op('ReduceMean', [t], {axes: [-1], keepdims: 1});
      const centred = o.op('Sub', [input, mean(input)]);
      const std = o.op('Sqrt', [o.op('Add', [mean(o.op('Pow', [centred, o.f32(2)])), o.f32(n.eps)])]);
      // Its pattern ends in Mul and Add: a norm without them gets a weight of ones and a bias of zeros.
      const scaled = o.op('Mul', [o.op('Div', [centred, std]), view(weight) ?? o.f32(1, [size])]);
      const last = {op: 'Add', inputs: [scaled, view(bias) ?? o.f32(0, [size])]};
      if (!flat) {
        g.emit(n, last.op, last.inputs);
        return;
      }
      g.emit(n, 'Reshape', [o.op(last.op, last.inputs), o.i64([0, ...x0])]);
      return;
    }
    const {centred, std} = normalise(g.ops, g.value(n.input), n, rank);
    const [weight, bias] = [n.weight ? g.param(`${n.name}.weight`) : undefined, n.bias ? g.param(`${n.name}.bias`) : undefined].map((t) => broadcast(g.ops, t, n, rank));
    const last = affine(g.ops, n, centred, std, weight, bias);
    g.emit(n, last.op, last.inputs);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const rank = g.shape(n.input).length;
    const weight = n.weight ? g.param(`${n.name}.weight`, n.normalized) : undefined;
    const bias = n.bias ? g.param(`${n.name}.bias`, n.normalized) : undefined;
    const [w, b] = [weight, bias].map((t) => broadcast(o, t, n, rank));
    const axes = o.i64(axesOf(n, rank).inner);
    // Over the trailing axes, the forward pass is one LayerNormalization kernel (the training graph's opset is 17),
    // whose Mean and InvStdDev outputs the backward pass reads (the study ViT's step 378 → 370 ms, and it keeps two
    // small statistics instead of x − mean and the deviation); LayerNorm2d's is written out.
    let normalised: () => {xhat: string; rstd: string};
    if (overTrailing(n, rank)) {
      const op = layerNormalization(o, n, x, weight, bias);
      const [y, mean, invStd] = o.opN('LayerNormalization', op.inputs, 3, op.attrs);
      o.op('Identity', [y], {}, n.name);
      normalised = () => ({xhat: o.op('Mul', [o.op('Sub', [x, mean]), invStd]), rstd: invStd});
    } else {
      const {centred, std} = normalise(o, x, n, rank);
      const last = affine(o, n, centred, std, w, b);
      o.op(last.op, last.inputs, {}, n.name);
      normalised = () => {
        const rstd = o.op('Reciprocal', [std]);
        return {xhat: o.op('Mul', [centred, rstd]), rstd};
      };
    }
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      const {xhat, rstd} = normalised();
      const outer = o.i64(axesOf(n, rank).outer);
      if (weight !== undefined) g.accumulate(weight, o.op('ReduceSum', [o.op('Mul', [gy, xhat]), outer], {keepdims: 0}));
      if (bias !== undefined) g.accumulate(bias, o.op('ReduceSum', [gy, outer], {keepdims: 0}));
      if (!g.needsGrad(n.input)) return;
      const gxhat = w === undefined ? gy : o.op('Mul', [gy, w]);
      const count = o.f32(product(n.normalized));
      const mean = (t: string): string => o.op('Div', [o.op('ReduceSum', [t, axes], {keepdims: 1}), count]);
      const inner = o.op('Sub', [o.op('Sub', [gxhat, mean(gxhat)]), o.op('Mul', [xhat, mean(o.op('Mul', [gxhat, xhat]))])]);
      g.accumulate(x, o.op('Mul', [inner, rstd]));
    });
  },
  fromOnnx: {
    // LayerNormalization (opset 17); torch's pattern at opset 13, started by a ReduceMean that a Sub of its input
    // reads (any other ReduceMean is the reducemean kind's, which comes after this one); its Mul and Add when they
    // follow the pattern's Div; LayerNorm2d's Transposes around it. Every other node of these ops is nothing to this kind.
    ops: ['LayerNormalization', 'ReduceMean', 'Sub', 'Pow', 'Sqrt', 'Div', 'Mul', 'Add', 'Transpose'],
    refuses: (node) => (node.op === 'LayerNormalization' && (node.outputUsed(1) || node.outputUsed(2)) ? 'LayerNormalization whose Mean or InvStdDev outputs feed other nodes' : undefined),
    map(o) {
      if (o.holding) return next(o);
      if (o.op === 'Mul' || o.op === 'Add') return affineStep(o);
      if (o.op === 'Transpose') {
        if (startsChannelsLast(o)) {
          o.hold('channels-last', o.input(), 0);
          return undefined;
        }
        // LayerNorm2d's Transpose back, of the layer made in place (over the channels) from the pattern's Div.
        const made = o.made(0);
        if (made === undefined || made.node.axis !== 0 || made.readers !== 1 || !['Div', 'Mul', 'Add'].includes(made.op) || (o.ints('perm') ?? []).join() !== '0,3,1,2') return '';
        o.pass(o.input());
        return undefined;
      }
      if (o.op === 'ReduceMean') {
        const x = o.computed(0);
        if (x === undefined || !startsPattern(o)) return '';
        const axes = trailingAxes(o, x.shape);
        if (typeof axes === 'string') return `LayerNorm-like pattern at ${o.layerName()}: ${axes} (LayerNorm is ${PATTERN} over the last axes)`;
        o.hold('mean', x, axes);
        return undefined;
      }
      if (o.op !== 'LayerNormalization') return '';
      const x = o.input();
      const rank = x.shape.length;
      const axis = o.int('axis', -1);
      const first = axis < 0 ? axis + rank + 1 : axis;
      if (first < 1 || first > rank) return `LayerNormalization over axis ${axis} (cbp normalises the axes of each sample, not the batch)`;
      const normalized = x.shape.slice(first - 1);
      if (o.computed(1) !== undefined || o.computed(2) !== undefined) return 'LayerNormalization with a computed scale or bias';
      const scaleParam = o.param(1, 'scale');
      const biasParam = o.given(2) ? o.param(2, 'bias') : undefined;
      // PyTorch's weight and bias are of the normalised shape (the file may prefix 1s).
      const fits = (p: {readonly dims: readonly number[]; readonly values: Float32Array}): boolean => {
        const dims = [...p.dims];
        while (dims.length > normalized.length && dims[0] === 1) dims.shift();
        return p.values.length === product(normalized) && dims.join() === normalized.join();
      };
      if (!fits(scaleParam) || (biasParam !== undefined && !fits(biasParam))) return `LayerNormalization whose scale or bias is not of the normalised shape [${normalized.join(', ')}]`;
      const eps = Number(o.float('epsilon', 1e-5).toPrecision(6));
      if (!(eps >= 0 && eps <= 1)) return `LayerNormalization with epsilon ${eps} (cbp maps 0 to 1)`;
      const scale = scaleParam.values;
      const bias = biasParam?.values;
      // elementwise_affine=False as newer exporters write it: a scale of ones (and no bias, or zeros) that is not a
      // module's parameter. Multiplying by them is exact; they stay out of training, as in the module.
      const weightName = o.stateName(1, 'weight');
      const biasName = o.stateName(2, 'bias');
      const learnedWeight = weightName !== undefined || scale.some((v) => v !== 1);
      const learnedBias = bias !== undefined && (biasName !== undefined || bias.some((v) => v !== 0));
      const name = o.layerName(weightName ?? biasName, 'layernorm');
      if (learnedWeight) o.tensor(`${name}.weight`, normalized, scale);
      if (learnedBias && bias !== undefined) o.tensor(`${name}.bias`, normalized, bias);
      o.emit({kind: 'layernorm', name, input: x.name, normalized, eps, weight: learnedWeight, bias: learnedBias}, [x.shape]);
      return undefined;
    },
  },
};
