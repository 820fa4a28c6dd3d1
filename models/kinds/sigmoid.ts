import type {KindDef, NodeBase} from './kind';

/** The logistic function 1/(1 + e^−x) (SiLU is x · sigmoid(x): a sigmoid and a mul). */
export interface SigmoidNode extends NodeBase {
  readonly kind: 'sigmoid';
  readonly input: string;
}

export const sigmoid: KindDef<SigmoidNode> = {
  kind: 'sigmoid',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: () => undefined,
  read: (r) => ({kind: 'sigmoid', name: r.name, input: r.value('input')}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Sigmoid', [g.value(n.input)]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const y = o.op('Sigmoid', [x], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      // PyTorch's sigmoid_backward: gy · (1 − y) · y, in that order.
      g.accumulate(x, o.op('Mul', [o.op('Mul', [gy, o.op('Sub', [o.f32(1), y])]), y]));
    });
  },
  fromOnnx: {
    ops: ['Sigmoid'],
    map(o) {
      const x = o.input();
      o.emit({kind: 'sigmoid', name: o.layerName(), input: x.name}, [x.shape]);
      return undefined;
    },
  },
};
