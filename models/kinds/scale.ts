import type {KindDef, NodeBase} from './kind';

/**
 * A value times a constant scalar (attention's q·kᵀ · d^−½), or divided by one (q·kᵀ / √d); the gradient is gy
 * times (divided by) the same constant, as PyTorch's mul and div backward.
 */
export interface ScaleNode extends NodeBase {
  readonly kind: 'scale';
  readonly input: string;
  /** The factor, a float32 value. */
  readonly factor: number;
  /** x / factor (ONNX Div: not the same float32 as x · (1/factor)). */
  readonly divide?: boolean;
}

const op = (n: ScaleNode): string => (n.divide === true ? 'Div' : 'Mul');

export const scale: KindDef<ScaleNode> = {
  kind: 'scale',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n) => {
    if (!Number.isFinite(n.factor) || Math.fround(n.factor) !== n.factor) return `has factor ${n.factor}, expected a finite float32 value`;
    return n.divide === true && n.factor === 0 ? 'divides by 0' : undefined;
  },
  read: (r) => ({
    kind: 'scale',
    name: r.name,
    input: r.value('input'),
    factor: Math.fround(r.num('factor', -3.4e38, 3.4e38)),
    ...(r.has('divide') && r.flag('divide') ? {divide: true} : {}),
  }),
  params: () => [],
  onnx: (n, g) => g.emit(n, op(n), [g.value(n.input), g.ops.f32(n.factor)]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op(op(n), [x, o.f32(n.factor)], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, o.op(op(n), [gy, o.f32(n.factor)]));
    });
  },
  fromOnnx: {
    // After gelu (its constant factors inside its patterns, its x/√2) and mul (two computed values).
    ops: ['Mul', 'Div'],
    map(o) {
      const divide = o.op === 'Div';
      const k = divide || o.computed(0) !== undefined ? 0 : 1;
      const x = o.computed(k);
      const c = o.constant(1 - k);
      if (x === undefined || c?.kind !== 'float' || c.values.length !== 1) return '';
      if (c.dims.length > x.shape.length + 1) return `${o.op} by a constant of more axes than the value`;
      if (!Number.isFinite(c.values[0]) || (divide && c.values[0] === 0)) o.fail(`${divide ? 'divides' : 'multiplies'} by ${c.values[0]}`);
      o.emit({kind: 'scale', name: o.layerName(), input: x.name, factor: c.values[0], ...(divide ? {divide: true} : {})}, [x.shape]);
      return undefined;
    },
  },
};
