import {BATCH, type KindDef, type NodeBase} from './kind';

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
  fromOnnx: {
    ops: ['Flatten', 'Reshape'],
    // ONNX's Flatten is always 2-d: on another axis it merges the batch with other axes (or is 1 × everything).
    refuses: (node) => (node.op === 'Flatten' && node.int('axis', 1) !== 1 ? 'Flatten on an axis other than 1' : undefined),
    map(o) {
      const x = o.input();
      if (o.op === 'Reshape') {
        // x.view(x.size(0), -1) and the like: to [N, -1] or [N, features] (or [-1, features]).
        const to = o.constant(1);
        const features = x.shape.reduce((a, b) => a * b, 1);
        const v = to?.kind === 'int' ? to.values : [];
        const first = v[0] === BATCH || (v[0] === 0 && o.int('allowzero', 0) === 0);
        const flat = v.length === 2 && ((first && (v[1] === -1 || v[1] === features)) || (v[0] === -1 && v[1] === features));
        // Any other Reshape is the reshape kind's, which comes later.
        if (!flat) return '';
        if (x.shape.length === 1) {
          o.pass(x);
          return undefined;
        }
      }
      o.emit({kind: 'flatten', name: o.layerName(), input: x.name}, [x.shape]);
      return undefined;
    },
  },
};
