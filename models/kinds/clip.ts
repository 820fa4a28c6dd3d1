import {passWhere, type KindDef, type NodeBase} from './kind';

/** The largest bound a stored clip may have (float32's range). */
const MAX_BOUND = 3.4e38;

/**
 * Values clamped to [min, max] (either bound may be absent): ReLU6, Hardtanh, torch.clamp. The gradient passes where
 * min < x < max, strictly, as PyTorch's hardtanh_backward (ReLU6, Hardtanh) passes it; torch.clamp's own backward
 * also passes it at the bounds, which an ONNX Clip does not tell apart (measure zero for real-valued inputs).
 */
export interface ClipNode extends NodeBase {
  readonly kind: 'clip';
  readonly input: string;
  readonly min?: number;
  readonly max?: number;
}

export const clip: KindDef<ClipNode> = {
  kind: 'clip',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n) => (n.min !== undefined && n.max !== undefined && !(n.min < n.max) ? `clips to [${n.min}, ${n.max}], an empty range` : undefined),
  read: (r) => ({
    kind: 'clip',
    name: r.name,
    input: r.value('input'),
    ...(r.has('min') ? {min: r.num('min', -MAX_BOUND, MAX_BOUND)} : {}),
    ...(r.has('max') ? {max: r.num('max', -MAX_BOUND, MAX_BOUND)} : {}),
  }),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Clip', [g.value(n.input), n.min === undefined ? '' : g.ops.f32(n.min), n.max === undefined ? '' : g.ops.f32(n.max)]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const y = o.op('Clip', [x, n.min === undefined ? '' : o.f32(n.min), n.max === undefined ? '' : o.f32(n.max)], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      // min < x < max exactly where min < y < max (inside y = x, outside y is a bound), and y is what the next layer
      // keeps anyway: reading x would keep the input (a batch norm's output in MobileNetV2) alive for the backward
      // pass — one activation-sized tensor per ReLU6.
      const above = n.min === undefined ? undefined : o.op('Greater', [y, o.f32(n.min)]);
      const below = n.max === undefined ? undefined : o.op('Less', [y, o.f32(n.max)]);
      const inside = above !== undefined && below !== undefined ? o.op('And', [above, below]) : (above ?? below);
      g.accumulate(x, inside === undefined ? gy : passWhere(o, inside, gy));
    });
  },
  fromOnnx: {
    ops: ['Clip'],
    map(o) {
      const x = o.input();
      // Opset 11 on: the bounds are optional inputs (ReLU6: Constant 0 and 6).
      const bounds = [1, 2].map((k) => {
        if (!o.given(k)) return undefined;
        const c = o.constant(k);
        return c?.kind === 'float' && c.values.length === 1 ? c.values[0] : null;
      });
      const [min, max] = bounds;
      if (min === null || max === null) return 'Clip with bounds that are not constant numbers';
      o.emit({kind: 'clip', name: o.layerName(), input: x.name, ...(min !== undefined ? {min} : {}), ...(max !== undefined ? {max} : {})}, [x.shape]);
      return undefined;
    },
  },
};
