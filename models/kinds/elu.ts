import type {KindDef, NodeBase} from './kind';

/**
 * x for x > 0, alpha·(e^x − 1) otherwise (PyTorch's ELU, ONNX's Elu). The gradient is PyTorch's elu_backward on the
 * input: gy for x > 0, gy·alpha·e^x otherwise (alpha·gy at 0).
 */
export interface EluNode extends NodeBase {
  readonly kind: 'elu';
  readonly input: string;
  readonly alpha: number;
}

export const elu: KindDef<EluNode> = {
  kind: 'elu',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: () => undefined,
  read: (r) => ({kind: 'elu', name: r.name, input: r.value('input'), alpha: r.num('alpha', -1e6, 1e6)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Elu', [g.value(n.input)], {alpha: {float: n.alpha}}),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Elu', [x], {alpha: {float: n.alpha}}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      // Where selects: an infinite e^x of a large x lies in the branch it drops.
      const slope = o.op('Mul', [o.f32(n.alpha), o.op('Exp', [x])]);
      g.accumulate(x, o.op('Where', [o.op('Greater', [x, o.f32(0)]), gy, o.op('Mul', [gy, slope])]));
    });
  },
  fromOnnx: {
    ops: ['Elu'],
    map(o) {
      const x = o.input();
      o.emit({kind: 'elu', name: o.layerName(), input: x.name, alpha: o.float('alpha', 1)}, [x.shape]);
      return undefined;
    },
  },
};
