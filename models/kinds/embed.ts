import {MAX_AXES, MAX_WIDTH, type KindDef, type NodeBase} from './kind';

/**
 * x + E, a learned tensor E of the value's per-sample shape added to every sample: a position embedding
 * (x + self.pos, pos of [1, T, C], stored so). E trains as a float parameter of role `embedding` (no weight decay, never
 * constrained); its gradient is gy summed over the batch.
 */
export interface EmbedNode extends NodeBase {
  readonly kind: 'embed';
  readonly input: string;
  /** E's shape: the input's per-sample shape. */
  readonly shape: readonly number[];
}

export const embed: KindDef<EmbedNode> = {
  kind: 'embed',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => (n.shape.join() === x.join() ? undefined : `adds a tensor of shape [${n.shape.join(', ')}] to a value of shape [${x.join(', ')}]`),
  read: (r) => ({kind: 'embed', name: r.name, input: r.value('input'), shape: r.ints('shape', 1, MAX_WIDTH * 4096, [1, MAX_AXES])}),
  // PyTorch's layout: [1, ...shape], the batch axis of one it broadcasts over.
  params: (n) => [{suffix: 'weight', role: 'embedding', shape: [1, ...n.shape], trainable: true}],
  onnx: (n, g) => g.emit(n, 'Add', [g.value(n.input), g.param(`${n.name}.weight`)]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const e = g.param(`${n.name}.weight`, [1, ...n.shape]);
    o.op('Add', [x, e], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      if (g.needsGrad(n.input)) g.accumulate(x, gy);
      g.accumulate(e, o.op('ReduceSum', [gy, o.i64([0])], {keepdims: 1}));
    });
  },
  fromOnnx: {
    // After add (two computed values) and dense (a MatMul's bias).
    ops: ['Add'],
    map(o) {
      const k = o.computed(0) !== undefined ? 0 : 1;
      const x = o.computed(k);
      if (x === undefined || o.computed(1 - k) !== undefined) return '';
      const p = o.param(1 - k, 'embedding');
      // The value's own shape per sample, with or without the leading 1 of the batch.
      const dims = p.dims.length === x.shape.length + 1 && p.dims[0] === 1 ? p.dims.slice(1) : p.dims;
      if (dims.join() !== x.shape.join()) return 'Add of a constant (other than a MatMul\'s bias, or a tensor of the value\'s shape per sample)';
      const name = o.layerName(o.stateName(1 - k, 'weight') ?? (p.name.startsWith('onnx::') ? undefined : p.name), 'embed');
      o.tensor(`${name}.weight`, [1, ...x.shape], p.values);
      o.emit({kind: 'embed', name, input: x.name, shape: x.shape}, [x.shape]);
      return undefined;
    },
  },
};
