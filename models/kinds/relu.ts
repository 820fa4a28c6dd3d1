import {passWhere, type KindDef, type NodeBase} from './kind';

export interface ReluNode extends NodeBase {
  readonly kind: 'relu';
  readonly input: string;
}

export const relu: KindDef<ReluNode> = {
  kind: 'relu',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: () => undefined,
  read: (r) => ({kind: 'relu', name: r.name, input: r.value('input')}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Relu', [g.value(n.input)]),
  train(n, g) {
    const x = g.value(n.input);
    const y = g.ops.op('Relu', [x], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, passWhere(g.ops, g.ops.op('Greater', [y, g.ops.f32(0)]), gy));
    });
  },
  tfjs: (_n, k, [x]) => k.relu(x),
  fromOnnx: {
    ops: ['Relu'],
    map(o) {
      const x = o.input();
      o.emit({kind: 'relu', name: o.layerName(), input: x.name}, [x.shape]);
      return undefined;
    },
  },
};
