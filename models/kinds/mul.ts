import type {KindDef, NodeBase} from './kind';
import {isModuleParameter} from './layerscale';

/**
 * The element-wise product of two computed values of one rank, each axis equal or 1 in one of them (broadcast):
 * squeeze-and-excitation's x · scale [C, 1, 1], SiLU's x · sigmoid(x), Hardswish's x · hardsigmoid(x).
 */
export interface MulNode extends NodeBase {
  readonly kind: 'mul';
  readonly inputs: readonly [string, string];
}

const broadcast = (a: readonly number[], b: readonly number[]): readonly number[] => a.map((d, i) => Math.max(d, b[i]));

export const mul: KindDef<MulNode> = {
  kind: 'mul',
  inputs: (n) => n.inputs,
  shape: (_n, [a, b]) => broadcast(a, b),
  check: (_n, [a, b]) =>
    a.length === b.length && a.every((d, i) => d === b[i] || d === 1 || b[i] === 1) ? undefined : `multiplies values of shapes [${a.join(', ')}] and [${b.join(', ')}], which do not broadcast (equal ranks, each axis equal or 1)`,
  read: (r) => ({kind: 'mul', name: r.name, inputs: r.valuePair('inputs')}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Mul', [g.value(n.inputs[0]), g.value(n.inputs[1])]),
  train(n, g) {
    const o = g.ops;
    const [a, b] = [g.value(n.inputs[0]), g.value(n.inputs[1])];
    o.op('Mul', [a, b], {}, n.name);
    const out = g.shape(n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      const grad = (k: 0 | 1, other: string): void => {
        if (!g.needsGrad(n.inputs[k])) return;
        const own = g.shape(n.inputs[k]);
        // Summed over the axes this input was broadcast along (batch axis 0 is never broadcast).
        const axes = own.flatMap((d, i) => (d === 1 && out[i] > 1 ? [i + 1] : []));
        const full = o.op('Mul', [gy, other]);
        g.accumulate(g.value(n.inputs[k]), axes.length === 0 ? full : o.op('ReduceSum', [full, o.i64(axes)], {keepdims: 1}));
      };
      grad(0, b);
      grad(1, a);
    });
  },
  fromOnnx: {
    ops: ['Mul'],
    map(o) {
      // A module's parameter (a float constant named by its state_dict key) is the layerscale kind's, which says why not.
      const k = o.computed(0) === undefined ? 0 : 1;
      if (o.computed(1 - k) !== undefined && o.constant(k)?.kind === 'float' && isModuleParameter(o.inputName(k))) return '';
      const y = o.computed(1);
      // A constant first (0.5 * x) is a Mul by a constant too: the scale kind's.
      if (o.computed(0) === undefined && y !== undefined) return 'Mul by a constant';
      const x = o.input();
      if (y === undefined) return 'Mul by a constant';
      const node = {kind: 'mul', name: o.layerName(), inputs: [x.name, y.name]} as const;
      if (mul.check(node, [x.shape, y.shape]) !== undefined) return 'Mul of values that do not broadcast per channel (ranks or axes differ)';
      o.emit(node, [x.shape, y.shape]);
      return undefined;
    },
  },
};
