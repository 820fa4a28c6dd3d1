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
      // Indices are positions in the whole flattened input (batch and channel included). Where the windows do not
      // overlap (stride ≥ kernel: LeNet-5's 2×2) no two share an index, and MaxUnpool puts each gradient in place:
      // 1.5–1.7× faster than the scatter (MaxPool included; [256, 20, 24, 24]: 9.8 → 6.6 ms). Overlapping windows
      // (ResNet's 3×3 stride 2) can share a maximum, whose gradients must add up: ScatterElements with reduction 'add'.
      const o = g.ops;
      if (n.stride.every((s, i) => s >= n.kernel[i])) {
        // MaxUnpool has no ceil_mode; its output_shape input fixes the shape.
        g.accumulate(x, o.op('MaxUnpool', [gy, indices, o.op('Shape', [x])], {kernel_shape: [...n.kernel], strides: [...n.stride], pads: pads(n.padding)}));
        return;
      }
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
