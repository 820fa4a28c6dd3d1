import {MAX_AXES, type KindDef, type NodeBase} from './kind';

/**
 * Softmax over one per-sample axis (attention's weights, a.softmax(-1)). The gradient is PyTorch's
 * softmax_backward: y·(gy − Σ gy·y over the axis).
 */
export interface SoftmaxNode extends NodeBase {
  readonly kind: 'softmax';
  readonly input: string;
  /** The per-sample axis (0 is the first after the batch). */
  readonly axis: number;
}

export const softmax: KindDef<SoftmaxNode> = {
  kind: 'softmax',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => (n.axis < x.length ? undefined : `takes a softmax over axis ${n.axis} of a value of shape [${x.join(', ')}]`),
  read: (r) => ({kind: 'softmax', name: r.name, input: r.value('input'), axis: r.int('axis', 0, MAX_AXES - 1)}),
  params: () => [],
  // Opset 13 on (every export of cbp): Softmax over its one axis.
  onnx: (n, g) => g.emit(n, 'Softmax', [g.value(n.input)], {axis: n.axis + 1}),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const y = o.op('Softmax', [x], {axis: n.axis + 1}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const dot = o.op('ReduceSum', [o.op('Mul', [gy, y]), o.i64([n.axis + 1])], {keepdims: 1});
      g.accumulate(x, o.op('Mul', [y, o.op('Sub', [gy, dot])]));
    });
  },
  fromOnnx: {
    ops: ['Softmax'],
    // Axis 0 is the batch, whatever the rank: never one sample's values.
    refuses: (node) => (node.int('axis', -1) === 0 ? 'Softmax over the batch axis' : undefined),
    map(o) {
      const x = o.input();
      const rank = x.shape.length + 1;
      // The last axis only: before opset 13 a Softmax on another axis normalises over all the axes from it on.
      const axis = o.int('axis', -1);
      if ((axis < 0 ? axis + rank : axis) !== rank - 1) return 'Softmax over an axis other than the last';
      o.emit({kind: 'softmax', name: o.layerName(), input: x.name, axis: rank - 2}, [x.shape]);
      return undefined;
    },
  },
};
