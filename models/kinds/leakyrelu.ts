import type {KindDef, NodeBase} from './kind';

/** x for x > 0, alpha·x otherwise (PyTorch's leaky_relu_backward gives alpha·gy at 0 too). */
export interface LeakyReluNode extends NodeBase {
  readonly kind: 'leakyrelu';
  readonly input: string;
  readonly alpha: number;
}

export const leakyrelu: KindDef<LeakyReluNode> = {
  kind: 'leakyrelu',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: () => undefined,
  read: (r) => ({kind: 'leakyrelu', name: r.name, input: r.value('input'), alpha: r.num('alpha', -1e6, 1e6)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'LeakyRelu', [g.value(n.input)], {alpha: {float: n.alpha}}),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('LeakyRelu', [x], {alpha: {float: n.alpha}}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, o.op('Where', [o.op('Greater', [x, o.f32(0)]), gy, o.op('Mul', [gy, o.f32(n.alpha)])]));
    });
  },
};
