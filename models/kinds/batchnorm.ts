import {MAX_WIDTH, type KindDef, type NodeBase} from './kind';

/** PyTorch's BatchNorm2d (or 1d on [N, F]): batch statistics in training, running statistics otherwise. */
export interface BatchNormNode extends NodeBase {
  readonly kind: 'batchnorm';
  readonly input: string;
  readonly channels: number;
  readonly eps: number;
  readonly momentum: number;
}

export const batchnorm: KindDef<BatchNormNode> = {
  kind: 'batchnorm',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => ((x.length === 3 || x.length === 1) && x[0] === n.channels ? undefined : `expects ${n.channels} channels ([C, H, W] or [C]), its input is [${x.join(', ')}]`),
  read: (r) => ({kind: 'batchnorm', name: r.name, input: r.value('input'), channels: r.int('channels', 1, MAX_WIDTH), eps: r.num('eps', 0, 1), momentum: r.num('momentum', 0, 1)}),
  params: (n) => [
    {suffix: 'weight', role: 'bn_weight', shape: [n.channels], trainable: true},
    {suffix: 'bias', role: 'bn_bias', shape: [n.channels], trainable: true},
    {suffix: 'running_mean', role: 'running_mean', shape: [n.channels], trainable: false},
    {suffix: 'running_var', role: 'running_var', shape: [n.channels], trainable: false},
  ],
  onnx(n, g) {
    const keys = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => g.param(`${n.name}.${k}`));
    g.emit(n, 'BatchNormalization', [g.value(n.input), ...keys], {epsilon: {float: n.eps}});
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const shape = g.shape(n.input);
    const channels = n.channels;
    const spatial = shape.length === 3;
    const perSample = spatial ? shape[1] * shape[2] : 1;
    const gamma = g.param(`${n.name}.weight`, [channels]);
    const beta = g.param(`${n.name}.bias`, [channels]);
    // Means over the spatial axes first, then over the batch: float32 accumulates far less error this way. The
    // variance is the mean of (x − mean)², two passes: E[x²] − mean² loses 1e-3 of a ResNet-20's gradients to
    // cancellation (measured against PyTorch in float64). The centred copy is transient: the backward pass below
    // needs only x and the mean, so no activation-sized tensor per batch norm stays alive until then.
    const overBatch = (t: string): string => o.op('ReduceMean', [t], {axes: [0], keepdims: 1});
    const mean = overBatch(spatial ? o.op('ReduceMean', [x], {axes: [2, 3], keepdims: 1}) : x);
    const centred = o.op('Sub', [x, mean]);
    const squares = o.op('Mul', [centred, centred]);
    const variance = overBatch(spatial ? o.op('ReduceMean', [squares], {axes: [2, 3], keepdims: 1}) : squares);
    const meanC = o.op('Reshape', [mean, o.i64([channels])], {}, `mean.${n.name}`);
    const varC = o.op('Reshape', [variance, o.i64([channels])], {}, `var.${n.name}`);
    g.batchStats(n.name, meanC, varC, channels, perSample);
    o.op('BatchNormalization', [x, gamma, beta, meanC, varC], {epsilon: {float: n.eps}}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      const sum2 = (t: string): string => (spatial ? o.op('ReduceSum', [o.op('ReduceSum', [t, o.i64([2, 3])], {keepdims: 1}), o.i64([0])], {keepdims: 1}) : o.op('ReduceSum', [t, o.i64([0])], {keepdims: 1}));
      const invstd = o.op('Reciprocal', [o.op('Sqrt', [o.op('Add', [variance, o.f32(n.eps)])])]);
      const sdy = sum2(gy);
      // Σ dy·x̂ = invstd · (Σ dy·x − mean · Σ dy)
      const sdyxhat = o.op('Mul', [invstd, o.op('Sub', [sum2(o.op('Mul', [gy, x])), o.op('Mul', [mean, sdy])])]);
      g.accumulate(gamma, o.op('Reshape', [sdyxhat, o.i64([channels])]));
      g.accumulate(beta, o.op('Reshape', [sdy, o.i64([channels])]));
      // dx = A·dy + B·x + C with A = γ·invstd, B = −A·invstd·Σ(dy·x̂)/M, C = −A·Σdy/M − B·mean (M values per channel).
      const invM = o.op('Reciprocal', [o.op('Div', [o.op('Cast', [o.op('Size', [x])], {to: FLOAT}), o.f32(channels)])]);
      const a = o.op('Mul', [o.op('Reshape', [gamma, o.i64(spatial ? [1, channels, 1, 1] : [1, channels])]), invstd]);
      const bx = o.op('Neg', [o.op('Mul', [o.op('Mul', [a, invstd]), o.op('Mul', [sdyxhat, invM])])]);
      const c = o.op('Neg', [o.op('Add', [o.op('Mul', [a, o.op('Mul', [sdy, invM])]), o.op('Mul', [bx, mean])])]);
      // x·B + C in one pass: BatchNormalization with scale B, bias C, mean 0, variance 1 and epsilon 0.
      const affine = o.op('BatchNormalization', [x, o.op('Reshape', [bx, o.i64([channels])]), o.op('Reshape', [c, o.i64([channels])]), o.f32(0, [channels]), o.f32(1, [channels])], {epsilon: {float: 0}});
      g.accumulate(x, o.op('Add', [o.op('Mul', [gy, a]), affine]));
    });
  },
  tfjs: (n, k, [x]) => k.batchNorm(n.name, n.eps, x),
  fromOnnx: {
    ops: ['BatchNormalization'],
    // A training-mode export's batch norm (training_mode 1) is the same layer; its running-statistics outputs must
    // feed nothing.
    refuses: (node) => (node.outputUsed(1) || node.outputUsed(2) ? 'BatchNormalization whose running statistics feed other nodes' : undefined),
    map(o) {
      const x = o.input();
      const channels = x.shape[0];
      const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((k) => o.param(k, ['scale', 'bias', 'mean', 'variance'][k - 1], [channels]));
      const name = o.layerName(o.stateName(1, 'weight') ?? o.stateName(3, 'running_mean'));
      o.tensor(`${name}.weight`, [channels], gamma.values);
      o.tensor(`${name}.bias`, [channels], beta.values);
      o.tensor(`${name}.running_mean`, [channels], mean.values);
      o.tensor(`${name}.running_var`, [channels], variance.values);
      // ONNX's momentum weighs the running value; PyTorch's the batch's. Both are float32 in a file: rounded back.
      const eps = Number(o.float('epsilon', 1e-5).toPrecision(6));
      const momentum = Number((1 - o.float('momentum', 0.9)).toPrecision(6));
      if (!(eps > 0 && eps <= 1) || !(momentum >= 0 && momentum <= 1)) o.fail(`has epsilon ${eps} or momentum ${1 - momentum} outside (0, 1]`);
      o.emit({kind: 'batchnorm', name, input: x.name, channels, eps, momentum}, [x.shape]);
      return undefined;
    },
  },
};

/** ONNX's TensorProto.FLOAT, the `to` of a Cast. */
const FLOAT = 1;
