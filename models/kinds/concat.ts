import type {KindDef, NodeBase, OnnxValue} from './kind';

/** The most values one concat may join. */
const MAX_PARTS = 4096;

/** Values joined along the channel axis (torch.cat(xs, 1)): SqueezeNet's Fire, GoogLeNet's Inception, DenseNet. */
export interface ConcatNode extends NodeBase {
  readonly kind: 'concat';
  readonly inputs: readonly string[];
}

export const concat: KindDef<ConcatNode> = {
  kind: 'concat',
  inputs: (n) => n.inputs,
  shape: (_n, xs) => [xs.reduce((c, x) => c + x[0], 0), ...xs[0].slice(1)],
  check: (_n, xs) => {
    const rest = xs[0].slice(1).join(',');
    const odd = xs.find((x) => x.length !== xs[0].length || x.slice(1).join(',') !== rest);
    return odd === undefined ? undefined : `joins values of shapes [${xs[0].join(', ')}] and [${odd.join(', ')}], which differ in more than their channels`;
  },
  read: (r) => ({kind: 'concat', name: r.name, inputs: r.values('inputs', 2, MAX_PARTS)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Concat', n.inputs.map((v) => g.value(v)), {axis: 1}),
  train(n, g) {
    const o = g.ops;
    const xs = n.inputs.map((v) => g.value(v));
    o.op('Concat', xs, {axis: 1}, n.name);
    const sizes = n.inputs.map((v) => g.shape(v)[0]);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !n.inputs.some((v) => g.needsGrad(v))) return;
      const parts = o.opN('Split', [gy, o.i64(sizes)], sizes.length, {axis: 1});
      n.inputs.forEach((v, i) => {
        if (g.needsGrad(v)) g.accumulate(xs[i], parts[i]);
      });
    });
  },
  fromOnnx: {
    ops: ['Concat'],
    map(o) {
      // (A Concat of constants only is shape arithmetic, which the importer folds.)
      const parts: OnnxValue[] = [];
      for (let k = 0; k < o.inputs; k++) {
        const v = o.computed(k);
        if (v === undefined) return 'Concat of computed values with constants';
        parts.push(v);
      }
      const x = o.input();
      const axis = o.int('axis', 0);
      if ((axis < 0 ? axis + x.shape.length + 1 : axis) !== 1) return 'Concat on an axis other than 1 (the channels)';
      if (parts.length === 1) o.pass(x);
      else o.emit({kind: 'concat', name: o.layerName(), inputs: parts.map((v) => v.name)}, parts.map((v) => v.shape));
      return undefined;
    },
  },
};
