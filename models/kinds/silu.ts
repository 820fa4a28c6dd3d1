import type {KindDef, NodeBase, OnnxNode} from './kind';

/**
 * SiLU (swish), x · sigmoid(x): torch writes nn.SiLU as Sigmoid(x) read only by Mul(x, ·). As one node the training
 * graph keeps only x for the backward pass, as PyTorch does: the forward pass is the same Sigmoid and Mul, which ONNX
 * Runtime fuses into one kernel (QuickGelu) when nothing else reads the sigmoid, and the backward pass computes the
 * sigmoid again, PyTorch's silu_backward: gy · s · (1 + x · (1 − s)).
 */
export interface SiluNode extends NodeBase {
  readonly kind: 'silu';
  readonly input: string;
}

/** Whether a Sigmoid starts SiLU: its only reader is Mul(x, sigmoid) or Mul(sigmoid, x) of its own input x. */
function startsSilu(o: OnnxNode<SiluNode>): boolean {
  const readers = o.readers();
  const x = o.inputName(0);
  if (o.inputs !== 1 || x === '' || readers.length !== 1) return false;
  const m = readers[0];
  return m.op === 'Mul' && m.inputNames.length === 2 && m.inputNames.includes(x) && m.inputNames[0] !== m.inputNames[1];
}

export const silu: KindDef<SiluNode> = {
  kind: 'silu',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: () => undefined,
  read: (r) => ({kind: 'silu', name: r.name, input: r.value('input')}),
  params: () => [],
  onnx: (n, g) => {
    const x = g.value(n.input);
    g.emit(n, 'Mul', [x, g.ops.op('Sigmoid', [x])]);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Mul', [x, o.op('Sigmoid', [x])], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const s = o.op('Sigmoid', [x]);
      const slope = o.op('Add', [o.f32(1), o.op('Mul', [x, o.op('Sub', [o.f32(1), s])])]);
      g.accumulate(x, o.op('Mul', [o.op('Mul', [gy, s]), slope]));
    });
  },
  fromOnnx: {
    // A Sigmoid starts it when the Mul that finishes it is its only reader; any other Sigmoid or Mul is nothing to
    // this kind (the sigmoid and mul kinds map them).
    ops: ['Sigmoid', 'Mul'],
    map(o) {
      if (o.holding) {
        const k = o.held(0) !== undefined ? 0 : 1;
        const held = o.held(k);
        if (held === undefined || o.op !== 'Mul' || o.inputs !== 2 || o.computed(1 - k)?.name !== held.value.name) return 'Mul reading a SiLU\'s sigmoid other than as x · sigmoid(x)';
        o.emit({kind: 'silu', name: o.layerName(undefined, 'silu'), input: held.value.name}, [held.value.shape]);
        return undefined;
      }
      if (o.op !== 'Sigmoid' || !startsSilu(o)) return '';
      o.hold('sigmoid', o.input(), 0);
      return undefined;
    },
  },
};
