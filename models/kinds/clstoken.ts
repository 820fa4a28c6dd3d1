import {BATCH, MAX_AXES, MAX_WIDTH, type KindDef, type NodeBase, type Ops} from './kind';

/**
 * Learned tokens put before a value's tokens, the same for every sample: a class token
 * (torch.cat([self.cls.expand(N, -1, -1), x], 1), cls of [1, k, C]), which torch writes as an Expand of the
 * parameter to the batch and a Concat on axis 1. The tokens train as a float parameter of role `embedding` (no
 * weight decay, never constrained); their gradient is gy's first k tokens summed over the batch, the input's the rest.
 */
export interface ClsTokenNode extends NodeBase {
  readonly kind: 'clstoken';
  readonly input: string;
  /** The tokens' shape [k, ...]: k tokens of the input's per-token shape. */
  readonly shape: readonly number[];
}

export const clstoken: KindDef<ClsTokenNode> = {
  kind: 'clstoken',
  inputs: (n) => [n.input],
  shape: (n, [x]) => [x[0] + n.shape[0], ...x.slice(1)],
  check: (n, [x]) => (x.length >= 2 && n.shape.slice(1).join() === x.slice(1).join() ? undefined : `puts tokens [${n.shape.join(', ')}] before tokens [${x.join(', ')}]`),
  read: (r) => ({kind: 'clstoken', name: r.name, input: r.value('input'), shape: r.ints('shape', 1, MAX_WIDTH * 4096, [2, MAX_AXES])}),
  // PyTorch's layout: [1, k, ...], the batch axis of one it is expanded along.
  params: (n) => [{suffix: 'weight', role: 'embedding', shape: [1, ...n.shape], trainable: true}],
  onnx(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    g.emit(n, 'Concat', [expandToBatch(o, g.param(`${n.name}.weight`), x, n.shape), x], {axis: 1});
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const shape = g.shape(n.input);
    const p = g.param(`${n.name}.weight`, [1, ...n.shape]);
    o.op('Concat', [expandToBatch(o, p, x, n.shape), x], {axis: 1}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      const [gt, gx] = o.opN('Split', [gy, o.i64([n.shape[0], shape[0]])], 2, {axis: 1});
      if (g.needsGrad(n.input)) g.accumulate(x, gx);
      g.accumulate(p, o.op('ReduceSum', [gt, o.i64([0])], {keepdims: 1}));
    });
  },
  fromOnnx: {
    // Expand of a parameter to the batch, held; the Concat that puts it first is the node. A Concat of computed
    // values only is the concat kind's, which comes first.
    ops: ['Expand', 'Concat'],
    map(o) {
      const why = 'Expand of a parameter to the batch other than put before a value\'s tokens (torch.cat([cls.expand(N, -1, -1), x], 1))';
      if (o.op === 'Expand') {
        // An Expand of a computed value, or of an integer constant (shape arithmetic cbp does not fold), is nothing
        // to this kind either.
        if (o.holding || o.computed(0) !== undefined || o.constant(0)?.kind !== 'float') return '';
        const to = o.constant(1);
        const p = o.param(0, 'class token');
        const v = to?.kind === 'int' ? to.values : [];
        const readers = o.readers();
        const ones = v.slice(1).every((d, i) => d === 1 || d === p.dims[i + 1]);
        // Any other Expand is nothing to this kind (listed as an Expand).
        if (p.dims.length < 3 || p.dims[0] !== 1 || v.length !== p.dims.length || v[0] !== BATCH || !ones || readers.length !== 1 || readers[0].op !== 'Concat') return '';
        const name = o.layerName(o.stateName(0, 'weight') ?? (p.name.startsWith('onnx::') ? undefined : p.name), 'clstoken');
        o.tensor(`${name}.weight`, p.dims, p.values);
        o.hold('expanded', {name, shape: p.dims.slice(1)}, 0);
        return undefined;
      }
      const held = o.held(0);
      const x = o.computed(1);
      const rank = held === undefined ? 0 : held.value.shape.length + 1;
      const axis = o.int('axis', 0);
      if (held === undefined || x === undefined || o.inputs !== 2 || (axis < 0 ? axis + rank : axis) !== 1) return o.holding ? why : '';
      o.emit({kind: 'clstoken', name: held.value.name, input: x.name, shape: held.value.shape}, [x.shape]);
      return undefined;
    },
  },
};

/** The tokens [1, k, ...] expanded to [N, k, ...], the batch N read from x's shape (inference and training alike). */
function expandToBatch(o: Ops, tokens: string, x: string, shape: readonly number[]): string {
  const batch = o.op('Slice', [o.op('Shape', [x]), o.i64([0]), o.i64([1])]);
  return o.op('Expand', [tokens, o.op('Concat', [batch, o.i64(shape)], {axis: 0})]);
}
