import type {KindDef, NodeBase} from './kind';

/** [N, C, H, W] → [N, C·H·W] in PyTorch's order (torch.flatten(x, 1)). */
export interface FlattenNode extends NodeBase {
  readonly kind: 'flatten';
  readonly input: string;
}

export const flatten: KindDef<FlattenNode> = {
  kind: 'flatten',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => [x.reduce((a, b) => a * b, 1)],
  check: () => undefined,
  read: (r) => ({kind: 'flatten', name: r.name, input: r.value('input')}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Flatten', [g.value(n.input)], {axis: 1}),
  train(n, g) {
    const x = g.value(n.input);
    g.ops.op('Flatten', [x], {axis: 1}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, g.ops.op('Reshape', [gy, g.ops.op('Shape', [x])]));
    });
  },
  tfjs: (_n, k, [x]) => k.flatten(x),
};
