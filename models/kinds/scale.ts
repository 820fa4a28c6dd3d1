import type {KindDef, NodeBase} from './kind';

/** A value times a constant scalar (attention's q·kᵀ · d^−½); the gradient is gy times the same constant. */
export interface ScaleNode extends NodeBase {
  readonly kind: 'scale';
  readonly input: string;
  /** The factor, a float32 value. */
  readonly factor: number;
}

export const scale: KindDef<ScaleNode> = {
  kind: 'scale',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n) => (Number.isFinite(n.factor) && Math.fround(n.factor) === n.factor ? undefined : `has factor ${n.factor}, expected a finite float32 value`),
  read: (r) => ({kind: 'scale', name: r.name, input: r.value('input'), factor: Math.fround(r.num('factor', -3.4e38, 3.4e38))}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Mul', [g.value(n.input), g.ops.f32(n.factor)]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Mul', [x, o.f32(n.factor)], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, o.op('Mul', [gy, o.f32(n.factor)]));
    });
  },
  fromOnnx: {
    // After gelu (its constant factors inside its patterns) and mul (two computed values).
    ops: ['Mul'],
    map(o) {
      const k = o.computed(0) !== undefined ? 0 : 1;
      const x = o.computed(k);
      const c = o.constant(1 - k);
      if (x === undefined || c?.kind !== 'float' || c.values.length !== 1) return '';
      if (c.dims.length > x.shape.length + 1) return 'Mul by a constant of more axes than the value';
      if (!Number.isFinite(c.values[0])) o.fail(`multiplies by ${c.values[0]}`);
      o.emit({kind: 'scale', name: o.layerName(), input: x.name, factor: c.values[0]}, [x.shape]);
      return undefined;
    },
  },
};
