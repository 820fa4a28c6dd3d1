import {MAX_WIDTH, type KindDef, type NodeBase, type Ops} from './kind';

/**
 * x for x > 0, a·x otherwise, with a learned slope a: one for every channel or one for all (PyTorch's PReLU, its
 * `weight` of [num_parameters]; ONNX's PRelu). The slope trains as a float parameter without weight decay and is never
 * constrained by CBP. The gradients are PyTorch's prelu backward: gy for x > 0, a·gy otherwise (at 0 too); the
 * slope's the sum of x·gy where x ≤ 0, over the batch and the positions (and the channels for one slope).
 */
export interface PReluNode extends NodeBase {
  readonly kind: 'prelu';
  readonly input: string;
  /** 1, or the input's channels (features). */
  readonly slopes: number;
}

/** The slope [slopes] as it broadcasts over [N, ...x]: [C, 1, 1] on an image, [F] on features, [1] for one. */
function broadcastSlope(o: Ops, slope: string, n: PReluNode, x: readonly number[]): string {
  return n.slopes === 1 || x.length === 1 ? slope : o.op('Reshape', [slope, o.i64([n.slopes, ...x.slice(1).map(() => 1)])]);
}

export const prelu: KindDef<PReluNode> = {
  kind: 'prelu',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => {
    if (x.length === 0) return 'expects an input of at least one dimension per image';
    return n.slopes === 1 || n.slopes === x[0] ? undefined : `has ${n.slopes} slopes for ${x[0]} channels (expects 1, or one per channel)`;
  },
  read: (r) => ({kind: 'prelu', name: r.name, input: r.value('input'), slopes: r.int('slopes', 1, MAX_WIDTH)}),
  params: (n) => [{suffix: 'weight', role: 'slope', shape: [n.slopes], trainable: true}],
  onnx: (n, g) => g.emit(n, 'PRelu', [g.value(n.input), broadcastSlope(g.ops, g.param(`${n.name}.weight`), n, g.shape(n.input))]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const shape = g.shape(n.input);
    const slope = g.param(`${n.name}.weight`, [n.slopes]);
    const a = broadcastSlope(o, slope, n, shape);
    o.op('PRelu', [x, a], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      const positive = o.op('Greater', [x, o.f32(0)]);
      if (g.needsGrad(n.input)) g.accumulate(x, o.op('Where', [positive, gy, o.op('Mul', [gy, a])]));
      const part = o.op('Where', [positive, o.f32(0), o.op('Mul', [x, gy])]);
      // Summed over the batch and the positions (axes 0, 2, 3, …); over everything for one slope.
      const axes = n.slopes === 1 ? [0, ...shape.map((_, i) => i + 1)] : [0, ...shape.slice(1).map((_, i) => i + 2)];
      const sum = o.op('ReduceSum', [part, o.i64(axes)], {keepdims: 0});
      g.accumulate(slope, n.slopes === 1 ? o.op('Reshape', [sum, o.i64([1])]) : sum);
    });
  },
  fromOnnx: {
    ops: ['PRelu'],
    map(o) {
      const x = o.input();
      if (o.computed(1) !== undefined) return 'PRelu with a computed slope';
      const p = o.param(1, 'slope');
      const channels = x.shape[0];
      // One slope (of any shape of ones), or one per channel aligned on axis 1: [C, 1, 1] on an image, [C] on features.
      const dims = [...p.dims];
      while (dims.length > x.shape.length && dims[0] === 1) dims.shift();
      const perChannel = p.values.length === channels && dims.length === x.shape.length && dims[0] === channels && dims.slice(1).every((d) => d === 1);
      if (p.values.length !== 1 && !perChannel) return 'PRelu with slopes other than one or one per channel ([C, 1, 1])';
      const name = o.layerName(o.stateName(1, 'weight'));
      o.tensor(`${name}.weight`, [p.values.length], p.values);
      o.emit({kind: 'prelu', name, input: x.name, slopes: p.values.length}, [x.shape]);
      return undefined;
    },
  },
};
