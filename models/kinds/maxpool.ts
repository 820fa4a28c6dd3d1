import {notOnnxPool, notPoolInput, onnxPool, pads, poolShape, readPoolWindow, type KindDef, type NodeBase, type PoolWindow} from './kind';

export interface MaxPoolNode extends NodeBase, PoolWindow {
  readonly kind: 'maxpool';
  readonly input: string;
}

const attrs = (n: MaxPoolNode): Record<string, number[] | number> => ({kernel_shape: [...n.kernel], strides: [...n.stride], pads: pads(n.padding), ...(n.ceil === true ? {ceil_mode: 1} : {})});

export const maxpool: KindDef<MaxPoolNode> = {
  kind: 'maxpool',
  inputs: (n) => [n.input],
  shape: (n, [x]) => poolShape(n, x),
  check: (n, [x]) => notPoolInput(n, x),
  read: (r) => ({
    kind: 'maxpool',
    name: r.name,
    input: r.value('input'),
    ...readPoolWindow(r),
  }),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'MaxPool', [g.value(n.input)], attrs(n)),
  train(n, g) {
    const x = g.value(n.input);
    const [y, indices] = g.ops.opN('MaxPool', [x], 2, attrs(n));
    g.ops.op('Identity', [y], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      // Indices are positions in the whole flattened input (batch and channel included); MaxUnpool would sum
      // overlapping windows wrongly, so the gradient is scattered with reduction 'add'.
      const o = g.ops;
      const size = o.op('Reshape', [o.op('Size', [x]), o.i64([1])]);
      const zeros = o.op('Expand', [o.f32(0), size]);
      const flat = o.op('ScatterElements', [zeros, o.op('Reshape', [indices, o.i64([-1])]), o.op('Reshape', [gy, o.i64([-1])])], {axis: 0, reduction: 'add'});
      g.accumulate(x, o.op('Reshape', [flat, o.op('Shape', [x])]));
    });
  },
  tfjs: (n, k, [x]) => k.maxPool(x, n.kernel, n.stride, n.padding),
  tfjsLacks: (n) => (n.ceil === true ? 'ceil-mode max pooling' : undefined),
  fromOnnx: {
    ops: ['MaxPool'],
    refuses: (node) => notOnnxPool(node) ?? (node.int('storage_order', 0) !== 0 || node.outputUsed(1) ? 'MaxPool with indices' : undefined),
    map(o) {
      const x = o.input();
      o.emit({kind: 'maxpool', ...onnxPool(o, x)}, [x.shape]);
      return undefined;
    },
  },
};
