import {MAX_AXES, type KindDef, type NodeBase, type OnnxValue} from './kind';

/** The most values one concat may join. */
const MAX_PARTS = 4096;

/**
 * Values joined along the channel axis (torch.cat(xs, 1)): SqueezeNet's Fire, GoogLeNet's Inception, DenseNet; or along
 * another per-sample axis (torchvision Swin's PatchMerging: torch.cat([x0, x1, x2, x3], -1) of a channels-last [H, W, C]).
 */
export interface ConcatNode extends NodeBase {
  readonly kind: 'concat';
  readonly inputs: readonly string[];
  /** The per-sample axis (0, the channels, when absent; specs stored before it had only that). */
  readonly axis?: number;
}

const axisOf = (n: ConcatNode): number => n.axis ?? 0;
const others = (x: readonly number[], a: number): string => x.map((d, i) => (i === a ? '*' : String(d))).join(',');

export const concat: KindDef<ConcatNode> = {
  kind: 'concat',
  inputs: (n) => n.inputs,
  shape: (n, xs) => xs[0].map((d, i) => (i === axisOf(n) ? xs.reduce((c, x) => c + x[i], 0) : d)),
  check: (n, xs) => {
    const a = axisOf(n);
    if (a >= xs[0].length) return `joins values of shape [${xs[0].join(', ')}] on axis ${a + 1}, which they lack`;
    const rest = others(xs[0], a);
    const odd = xs.find((x) => x.length !== xs[0].length || others(x, a) !== rest);
    return odd === undefined ? undefined : `joins values of shapes [${xs[0].join(', ')}] and [${odd.join(', ')}], which differ in more than ${a === 0 ? 'their channels' : `axis ${a + 1}`}`;
  },
  read: (r) => ({kind: 'concat', name: r.name, inputs: r.values('inputs', 2, MAX_PARTS), ...(r.has('axis') ? {axis: r.int('axis', 0, MAX_AXES - 1)} : {})}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Concat', n.inputs.map((v) => g.value(v)), {axis: axisOf(n) + 1}),
  train(n, g) {
    const o = g.ops;
    const xs = n.inputs.map((v) => g.value(v));
    const axis = axisOf(n) + 1;
    o.op('Concat', xs, {axis}, n.name);
    const sizes = n.inputs.map((v) => g.shape(v)[axis - 1]);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !n.inputs.some((v) => g.needsGrad(v))) return;
      const parts = o.opN('Split', [gy, o.i64(sizes)], sizes.length, {axis});
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
      const a = (axis < 0 ? axis + x.shape.length + 1 : axis) - 1;
      if (a < 0 || a >= x.shape.length) return 'Concat on the batch axis';
      if (parts.length === 1) o.pass(x);
      else o.emit({kind: 'concat', name: o.layerName(), inputs: parts.map((v) => v.name), ...(a === 0 ? {} : {axis: a})}, parts.map((v) => v.shape));
      return undefined;
    },
  },
};
