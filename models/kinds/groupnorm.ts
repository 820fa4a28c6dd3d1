import {BATCH, MAX_WIDTH, type KindDef, type NodeBase, type OnnxAhead, type OnnxConst, type OnnxHeld, type OnnxNode, type Ops} from './kind';

/**
 * PyTorch's GroupNorm (and InstanceNorm2d, which is a GroupNorm of one group per channel): each image's channels in
 * `groups` groups, each group normalised by its own mean and biased variance over its channels and positions, then,
 * when `affine`, scaled and shifted per channel by `weight` and `bias` [C]. One kind serves both modules (and a
 * GroupNorm of one group, a layer norm over [C, H, W]): they differ only in the groups, the state_dict names are the
 * same, and the statistics never depend on the batch, so training and inference compute the same. The affine
 * parameters have the roles of a batch norm's (`bn_weight`, `bn_bias`): trained without weight decay, never
 * constrained by CBP, 1 and 0 when fresh.
 *
 * The gradients are PyTorch's native_group_norm_backward: with x̂ the normalised input, invstd = 1/√(var + eps) and
 * g = dy·weight viewed per group, dx = invstd·(g − mean(g) − x̂·mean(g·x̂)); dweight = Σ dy·x̂ and dbias = Σ dy over
 * the batch and the positions.
 */
export interface GroupNormNode extends NodeBase {
  readonly kind: 'groupnorm';
  readonly input: string;
  readonly channels: number;
  /** Divides the channels: the channels for an instance norm, 1 for a layer norm over [C, ...]. */
  readonly groups: number;
  readonly eps: number;
  /** Per-channel weight and bias (PyTorch's affine=True); without them the output is x̂ itself. */
  readonly affine: boolean;
}

/** A per-channel tensor [C] as it broadcasts over [N, C, ...rest]: [C, 1, …]. */
const perChannel = (o: Ops, t: string, x: readonly number[]): string => (x.length === 1 ? t : o.op('Reshape', [t, o.i64([x[0], ...x.slice(1).map(() => 1)])]));

/** The positions of one group in one image: C/G channels times the positions of each. */
const groupSize = (n: GroupNormNode, x: readonly number[]): number => (n.channels / n.groups) * x.slice(1).reduce((a, b) => a * b, 1);

export const groupnorm: KindDef<GroupNormNode> = {
  kind: 'groupnorm',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => {
    if (x.length === 0 || x[0] !== n.channels) return `expects ${n.channels} channels ([C, ...]), its input is [${x.join(', ')}]`;
    return n.channels % n.groups === 0 ? undefined : `normalises ${n.channels} channels in ${n.groups} groups, which do not divide them`;
  },
  read: (r) => ({
    kind: 'groupnorm',
    name: r.name,
    input: r.value('input'),
    channels: r.int('channels', 1, MAX_WIDTH),
    groups: r.int('groups', 1, MAX_WIDTH),
    eps: r.num('eps', 0, 1),
    affine: r.flag('affine'),
  }),
  params: (n) =>
    n.affine
      ? [
          {suffix: 'weight', role: 'bn_weight', shape: [n.channels], trainable: true},
          {suffix: 'bias', role: 'bn_bias', shape: [n.channels], trainable: true},
        ]
      : [],
  onnx(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const shape = g.shape(n.input);
    const eps = {epsilon: {float: n.eps}};
    const weight = n.affine ? g.param(`${n.name}.weight`) : o.f32(1, [n.channels]);
    const bias = n.affine ? g.param(`${n.name}.bias`) : o.f32(0, [n.channels]);
    // One group per channel of an image or a sequence: ONNX's InstanceNormalization as it is, as torch writes it.
    if (n.groups === n.channels && shape.length >= 2) {
      g.emit(n, 'InstanceNormalization', [x, weight, bias], eps);
      return;
    }
    // Otherwise as torch writes GroupNorm: the groups as the channels of [N, G, M], normalised, viewed back, affine.
    const normed = o.op('InstanceNormalization', [o.op('Reshape', [x, o.i64([0, n.groups, groupSize(n, shape)])]), o.f32(1, [n.groups]), o.f32(0, [n.groups])], eps);
    const back = o.i64([0, ...shape]);
    if (!n.affine) {
      g.emit(n, 'Reshape', [normed, back]);
      return;
    }
    const scaled = o.op('Mul', [o.op('Reshape', [normed, back]), perChannel(o, weight, shape)]);
    g.emit(n, 'Add', [scaled, perChannel(o, bias, shape)]);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const shape = g.shape(n.input);
    const grouped = o.i64([0, n.groups, groupSize(n, shape)]);
    const back = o.i64([0, ...shape]);
    // Two passes (the mean, then the mean of the centred squares), each over one group's values of one image.
    const xg = o.op('Reshape', [x, grouped]);
    const centred = o.op('Sub', [xg, o.op('ReduceMean', [xg], {axes: [2], keepdims: 1})]);
    const variance = o.op('ReduceMean', [o.op('Mul', [centred, centred])], {axes: [2], keepdims: 1});
    const invstd = o.op('Reciprocal', [o.op('Sqrt', [o.op('Add', [variance, o.f32(n.eps)])])]);
    // x̂ [N, G, M] is all the backward pass keeps of the activations (not x).
    const xhat = o.op('Mul', [centred, invstd]);
    const weight = n.affine ? g.param(`${n.name}.weight`, [n.channels]) : undefined;
    const bias = n.affine ? g.param(`${n.name}.bias`, [n.channels]) : undefined;
    const w = weight === undefined ? undefined : perChannel(o, weight, shape);
    if (w === undefined || bias === undefined) {
      o.op('Reshape', [xhat, back], {}, n.name);
    } else {
      o.op('Add', [o.op('Mul', [o.op('Reshape', [xhat, back]), w]), perChannel(o, bias, shape)], {}, n.name);
    }
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      // Summed over the batch and the positions: [C].
      const axes = o.i64([0, ...shape.slice(1).map((_, i) => i + 2)]);
      if (weight !== undefined && bias !== undefined) {
        g.accumulate(weight, o.op('ReduceSum', [o.op('Mul', [gy, o.op('Reshape', [xhat, back])]), axes], {keepdims: 0}));
        g.accumulate(bias, o.op('ReduceSum', [gy, axes], {keepdims: 0}));
      }
      if (!g.needsGrad(n.input)) return;
      const gg = o.op('Reshape', [w === undefined ? gy : o.op('Mul', [gy, w]), grouped]);
      const mean = (t: string): string => o.op('ReduceMean', [t], {axes: [2], keepdims: 1});
      const inner = o.op('Sub', [o.op('Sub', [gg, mean(gg)]), o.op('Mul', [xhat, mean(o.op('Mul', [gg, xhat]))])]);
      g.accumulate(x, o.op('Reshape', [o.op('Mul', [inner, invstd]), back]));
    });
  },
  fromOnnx: {
    // InstanceNormalization by itself is InstanceNorm2d; Reshape starts GroupNorm's pattern (GN_FORM); Add ends it,
    // joined to the node its Mul made. Other Reshapes and Adds are nothing to this kind.
    ops: ['InstanceNormalization', 'Reshape', 'Add'],
    map(o) {
      if (o.holding) return next(o);
      if (o.op === 'InstanceNormalization') return instanceNorm(o);
      if (o.op === 'Reshape') return start(o);
      return joinBias(o);
    },
  },
};

const GN_FORM = 'Reshape to [N, G, -1] → InstanceNormalization (scale 1, bias 0) → Reshape to [N, C, …] → Mul by the weight → Add of the bias';

/** Epsilon as PyTorch set it: ONNX holds it in float32, rounded back to the decimal a user wrote (1e-5, not 9.99999974e-6). */
const epsOf = (o: OnnxNode<GroupNormNode>): number | undefined => {
  const eps = Number(o.float('epsilon', 1e-5).toPrecision(6));
  return eps > 0 && eps <= 1 ? eps : undefined;
};

/** Whether a constant holds `value` in every element. */
const all = (c: OnnxConst | undefined, value: number): boolean => c?.kind === 'float' && c.values.every((v) => v === value);

/** nn.InstanceNorm2d (or 1d): its weight and bias [C] when affine; PyTorch writes ones and zeros of its own otherwise. */
function instanceNorm(o: OnnxNode<GroupNormNode>): string | undefined {
  const x = o.input();
  const channels = x.shape[0];
  if (x.shape.length < 2) return 'InstanceNormalization of a value without positions per channel ([C, ...])';
  const eps = epsOf(o);
  if (eps === undefined) return o.fail(`has epsilon ${o.float('epsilon', 1e-5)} outside (0, 1]`);
  if (o.computed(1) !== undefined || o.computed(2) !== undefined) return 'InstanceNormalization with a computed scale or bias';
  const scale = o.param(1, 'scale', [channels]);
  const bias = o.param(2, 'bias', [channels]);
  // affine=False writes Constants of ones and zeros; affine=True the module's own initializers, named `<module>.weight`.
  const fromState = o.stateName(1, 'weight') ?? o.stateName(2, 'bias');
  const affine = fromState !== undefined || !all(o.constant(1), 1) || !all(o.constant(2), 0);
  const name = o.layerName(fromState);
  if (affine) {
    o.tensor(`${name}.weight`, [channels], scale.values);
    o.tensor(`${name}.bias`, [channels], bias.values);
  }
  o.emit({kind: 'groupnorm', name, input: x.name, channels, groups: channels, eps, affine}, [x.shape]);
  return undefined;
}

/** The only reader of an ahead node's output when it is one node of `op`, else undefined. */
const onlyReader = (nodes: readonly OnnxAhead[], op: string): OnnxAhead | undefined => (nodes.length === 1 && nodes[0].op === op ? nodes[0] : undefined);

/** What of GN_FORM is missing after its first Reshape (`first`'s readers), or undefined when every node follows. */
function missing(readers: readonly OnnxAhead[]): string | undefined {
  const norm = onlyReader(readers, 'InstanceNormalization');
  const back = norm && onlyReader(norm.readers(), 'Reshape');
  if (back === undefined) return 'the Reshape back to [N, C, …] as the only reader of its InstanceNormalization';
  const mul = onlyReader(back.readers(), 'Mul');
  if (mul === undefined) return 'the Mul by the weight as the only reader of its Reshape back';
  return onlyReader(mul.readers(), 'Add') === undefined ? 'the Add of the bias as the only reader of its Mul' : undefined;
}

/**
 * A Reshape of x [C, ...] to [N, G, -1] read by InstanceNormalization starts GroupNorm's pattern (held as `grouped`,
 * with G); torch's InstanceNorm2d(track_running_stats=True), a Reshape to [1, N·C, ...] read by BatchNormalization, is
 * refused by name. Any other Reshape is nothing to this kind.
 */
function start(o: OnnxNode<GroupNormNode>): string | undefined {
  const x = o.computed(0);
  const to = o.constant(1);
  if (x === undefined || to?.kind !== 'int' || x.shape.length < 1) return '';
  const v = to.values;
  const channels = x.shape[0];
  const rest = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const readers = o.readers();
  if (v.length === x.shape.length + 1 && v[0] === 1 && typeof v[1] === 'number' && v[1] % channels === 0 && v.slice(2).join() === x.shape.slice(1).join() && onlyReader(readers, 'BatchNormalization') !== undefined) {
    // torch 1.13 writes the module in eval mode as a batch norm over the N·C instances, their running statistics
    // tiled N times: the batch size the export ran is fixed, and the file normalises by running statistics where
    // training normalises each image by its own. Neither trains as the module does.
    return 'InstanceNorm2d with track_running_stats=True (written as Reshape to [1, N·C, H, W] → BatchNormalization of its running statistics tiled over the export\'s fixed batch): cbp maps instance norms that normalise each image by its own statistics (track_running_stats=False)';
  }
  const groups = v[1];
  const first = v[0] === BATCH || (v[0] === 0 && o.int('allowzero', 0) === 0);
  if (v.length !== 3 || !first || typeof groups !== 'number' || groups < 1 || channels % groups !== 0 || (v[2] !== -1 && v[2] !== (channels / groups) * rest)) return '';
  if (onlyReader(readers, 'InstanceNormalization') === undefined) return '';
  const lacks = missing(readers);
  if (lacks !== undefined) return `GroupNorm pattern (${GN_FORM}) without ${lacks}`;
  o.hold('grouped', x, groups);
  return undefined;
}

/**
 * OnnxHeld keeps one count, the groups; the epsilon, read from the InstanceNormalization, travels in the step's
 * word from there to the Mul that makes the node (`normed 1e-05`, `restored 1e-05`).
 */
const stepWithEps = (step: string, eps: number): string => `${step} ${eps}`;
function heldEps(held: OnnxHeld, step: string): number | undefined {
  if (!held.step.startsWith(`${step} `)) return undefined;
  const eps = Number(held.step.slice(step.length + 1));
  return eps > 0 && eps <= 1 ? eps : undefined;
}

/** The next node of GroupNorm's pattern, reading the value this kind holds; why not, when it is not that. */
function next(o: OnnxNode<GroupNormNode>): string | undefined {
  const held = o.held(0);
  const why = `${o.op} reading a value partway through GroupNorm (${GN_FORM}) other than as its next step`;
  if (held === undefined) return why;
  const x = held.value;
  const channels = x.shape[0];
  const groups = held.count;
  if (held.step === 'grouped') {
    if (o.op !== 'InstanceNormalization') return why;
    const eps = epsOf(o);
    if (eps === undefined) return o.fail(`has epsilon ${o.float('epsilon', 1e-5)} outside (0, 1]`);
    const ones = o.constant(1);
    const zeros = o.constant(2);
    if (ones?.values.length !== groups || !all(ones, 1) || zeros?.values.length !== groups || !all(zeros, 0)) {
      return `InstanceNormalization in a GroupNorm pattern (${GN_FORM}) with a scale other than ${groups} ones or a bias other than ${groups} zeros`;
    }
    o.hold(stepWithEps('normed', eps), x, groups);
    return undefined;
  }
  const normed = heldEps(held, 'normed');
  if (normed !== undefined) {
    const to = o.constant(1);
    const v = to?.kind === 'int' ? to.values : [];
    const first = v[0] === BATCH || (v[0] === 0 && o.int('allowzero', 0) === 0);
    if (o.op !== 'Reshape' || !first || v.slice(1).join() !== x.shape.join()) return `${o.op} in a GroupNorm pattern (${GN_FORM}) other than the Reshape back to [N, ${x.shape.join(', ')}]`;
    o.hold(stepWithEps('restored', normed), x, groups);
    return undefined;
  }
  const eps = heldEps(held, 'restored');
  if (eps === undefined || o.op !== 'Mul') return why;
  // The weight [C] unsqueezed to [C, 1, …] (affine=True), or torch's own 1 of dims [1, 1, …] (affine=False). A weight
  // of one channel that is exactly 1 reads as the latter: the file writes both alike (and the bias must then be 0).
  const c = o.constant(1);
  const one = c?.kind === 'float' && c.values.length === 1 && c.values[0] === 1 && c.dims.length <= x.shape.length && c.dims.every((d) => d === 1);
  const perC = !one && c?.kind === 'float' && c.values.length === channels && c.dims.length === x.shape.length && c.dims[0] === channels && c.dims.slice(1).every((d) => d === 1);
  if (!one && !perC) return `Mul in a GroupNorm pattern (${GN_FORM}) by other than a weight of dims [${[channels, ...x.shape.slice(1).map(() => 1)].join(', ')}]`;
  const name = o.layerName(undefined, 'groupnorm');
  if (perC) o.tensor(`${name}.weight`, [channels], o.param(1, 'weight').values);
  o.emit({kind: 'groupnorm', name, input: x.name, channels, groups, eps, affine: perC}, [x.shape]);
  return undefined;
}

/** The Add of GroupNorm's bias, after the Mul that made the node: the bias [C, 1, …] (affine), or 0 (not affine). */
function joinBias(o: OnnxNode<GroupNormNode>): string | undefined {
  const made = o.made(0);
  if (made?.op !== 'Mul' || made.readers !== 1 || o.computed(1) !== undefined) return '';
  const n = made.node;
  const c = o.constant(1);
  const x = o.input();
  const dims = [n.channels, ...x.shape.slice(1).map(() => 1)];
  if (n.affine) {
    if (c?.kind !== 'float' || c.values.length !== n.channels || c.dims.join() !== dims.join()) return `Add in a GroupNorm pattern (${GN_FORM}) of other than a bias of dims [${dims.join(', ')}]`;
    o.tensor(`${n.name}.bias`, [n.channels], o.param(1, 'bias').values);
  } else if (c?.kind !== 'float' || c.values.length !== 1 || c.values[0] !== 0) {
    return `Add in a GroupNorm pattern (${GN_FORM}) without affine weight of other than 0`;
  }
  o.pass(x);
  return undefined;
}
