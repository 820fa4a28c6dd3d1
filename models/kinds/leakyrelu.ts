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
    const y = o.op('LeakyRelu', [x], {alpha: {float: n.alpha}}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      // With a slope ≥ 0, y > 0 exactly where x > 0: the output, which the next layer keeps, tells the sides apart
      // and the input need not stay alive for the backward pass (as for ReLU and ReLU6).
      const positive = o.op('Greater', [n.alpha >= 0 ? y : x, o.f32(0)]);
      g.accumulate(x, o.op('Where', [positive, gy, o.op('Mul', [gy, o.f32(n.alpha)])]));
    });
  },
  fromOnnx: {
    ops: ['LeakyRelu'],
    map(o) {
      const x = o.input();
      o.emit({kind: 'leakyrelu', name: o.layerName(), input: x.name, alpha: o.float('alpha', 0.01)}, [x.shape]);
      return undefined;
    },
  },
};
