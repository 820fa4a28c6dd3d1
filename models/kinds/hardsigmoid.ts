import {passWhere, type KindDef, type NodeBase} from './kind';

/**
 * max(0, min(1, alpha·x + beta)): ONNX's HardSigmoid; PyTorch's Hardsigmoid is relu6(x + 3)/6, alpha 1/6 and beta ½.
 * The gradient alpha passes where 0 < alpha·x + beta < 1, strictly (PyTorch's hardsigmoid_backward: −3 < x < 3).
 */
export interface HardSigmoidNode extends NodeBase {
  readonly kind: 'hardsigmoid';
  readonly input: string;
  readonly alpha: number;
  readonly beta: number;
}

export const hardsigmoid: KindDef<HardSigmoidNode> = {
  kind: 'hardsigmoid',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n) => (n.alpha > 0 ? undefined : `has alpha ${n.alpha}; cbp maps a rising hard sigmoid (alpha > 0)`),
  read: (r) => ({kind: 'hardsigmoid', name: r.name, input: r.value('input'), alpha: r.num('alpha', 0, 1e6), beta: r.num('beta', -1e6, 1e6)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'HardSigmoid', [g.value(n.input)], {alpha: {float: n.alpha}, beta: {float: n.beta}}),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const y = o.op('HardSigmoid', [x], {alpha: {float: n.alpha}, beta: {float: n.beta}}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const inside = o.op('And', [o.op('Greater', [y, o.f32(0)]), o.op('Less', [y, o.f32(1)])]);
      g.accumulate(x, passWhere(o, inside, o.op('Mul', [gy, o.f32(n.alpha)])));
    });
  },
  fromOnnx: {
    ops: ['HardSigmoid'],
    map(o) {
      const x = o.input();
      o.emit({kind: 'hardsigmoid', name: o.layerName(), input: x.name, alpha: o.float('alpha', 0.2), beta: o.float('beta', 0.5)}, [x.shape]);
      return undefined;
    },
  },
};
