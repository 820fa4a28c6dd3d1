import {BATCH, MAX_AXES, MAX_WIDTH, type KindDef, type NodeBase} from './kind';

/**
 * A value of one per-sample shape read as another of as many values, the batch axis kept first: x.flatten(2) of a
 * patch embedding ([C, H, W] → [C, H·W], which torch writes as a Reshape), x.reshape(N, T, 3, heads, d) of an attention's q, k, v. Its gradient is
 * the upstream gradient read back in the input's shape.
 */
export interface ReshapeNode extends NodeBase {
  readonly kind: 'reshape';
  readonly input: string;
  /** The per-sample output shape. */
  readonly shape: readonly number[];
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export const reshape: KindDef<ReshapeNode> = {
  kind: 'reshape',
  inputs: (n) => [n.input],
  shape: (n) => n.shape,
  check: (n, [x]) => (size(x) === size(n.shape) ? undefined : `reads [${x.join(', ')}] (${size(x)} values per sample) as [${n.shape.join(', ')}] (${size(n.shape)})`),
  read: (r) => ({kind: 'reshape', name: r.name, input: r.value('input'), shape: r.ints('shape', 1, MAX_WIDTH * 4096, [1, MAX_AXES])}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Reshape', [g.value(n.input), g.ops.i64([-1, ...n.shape])]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Reshape', [x, o.i64([-1, ...n.shape])], {}, n.name);
    const from = g.shape(n.input);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, o.op('Reshape', [gy, o.i64([-1, ...from])]));
    });
  },
  fromOnnx: {
    // Registered after flatten and shuffle, which map Reshape to [N, -1] and a channel shuffle's first Reshape.
    // (ONNX's Flatten is always 2-d: flatten's alone.)
    ops: ['Reshape'],
    map(o) {
      const x = o.input();
      const c = o.constant(1);
      if (c?.kind !== 'int') return 'Reshape to a computed shape';
      const v = c.values;
      const zeroCopies = o.int('allowzero', 0) === 0;
      // The batch first: N itself, 0 (a copy of it), or −1 where the rest fixes every other axis.
      if (v.length < 2 || v.length > MAX_AXES + 1 || v.slice(1).some((d) => d === BATCH)) return 'Reshape that does not keep the batch axis first';
      const rest = v.slice(1).map((d, i) => (d === 0 && zeroCopies ? x.shape[i] ?? 0 : Number(d)));
      const infer = rest.filter((d) => d === -1).length;
      const known = size(rest.filter((d) => d !== -1));
      const first = v[0] === BATCH || (v[0] === 0 && zeroCopies) || (v[0] === -1 && infer === 0 && known === size(x.shape));
      if (!first || infer > 1 || rest.some((d) => d < -1 || d === 0) || (infer === 1 && size(x.shape) % known !== 0)) return 'Reshape that does not keep the batch axis first';
      const to = rest.map((d) => (d === -1 ? size(x.shape) / known : d));
      if (to.join() === x.shape.join()) o.pass(x);
      else o.emit({kind: 'reshape', name: o.layerName(), input: x.name, shape: to}, [x.shape]);
      return undefined;
    },
  },
};
