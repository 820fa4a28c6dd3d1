import type {KindDef, NodeBase} from './kind';

/** The sum of two values of one shape (a residual connection). */
export interface AddNode extends NodeBase {
  readonly kind: 'add';
  readonly inputs: readonly [string, string];
}

export const add: KindDef<AddNode> = {
  kind: 'add',
  inputs: (n) => n.inputs,
  shape: (_n, [a]) => a,
  check: (_n, [a, b]) => (a.join(',') === b.join(',') ? undefined : `adds values of different shapes [${a.join(', ')}] and [${b.join(', ')}]`),
  read: (r) => ({kind: 'add', name: r.name, inputs: r.valuePair('inputs')}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Add', [g.value(n.inputs[0]), g.value(n.inputs[1])]),
  train(n, g) {
    const [x1, x2] = [g.value(n.inputs[0]), g.value(n.inputs[1])];
    g.ops.op('Add', [x1, x2], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      if (g.needsGrad(n.inputs[0])) g.accumulate(x1, gy);
      if (g.needsGrad(n.inputs[1])) g.accumulate(x2, gy);
    });
  },
  tfjs: (_n, k, [a, b]) => k.add(a, b),
  fromOnnx: {
    ops: ['Add'],
    map(o) {
      const y = o.computed(1);
      // The bias of a MatMul (torch writes it first) is the dense kind's, a learned tensor's the embed kind's.
      if (o.computed(0) === undefined && y !== undefined) return 'Add of a constant (other than a MatMul\'s bias)';
      const x = o.input();
      if (y === undefined) return 'Add of a constant (other than a MatMul\'s bias)';
      o.emit({kind: 'add', name: o.layerName(), inputs: [x.name, y.name]}, [x.shape, y.shape]);
      return undefined;
    },
  },
};
