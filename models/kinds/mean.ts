import {MAX_AXES, type KindDef, type NodeBase} from './kind';

/**
 * The mean over one per-sample axis (x.mean(1) of tokens [T, C]: the mean token), keepdim or not. The gradient is gy
 * divided by the axis's size, spread over it. (The mean over an image's height and width is the reducemean kind.)
 */
export interface MeanNode extends NodeBase {
  readonly kind: 'mean';
  readonly input: string;
  /** The per-sample axis (0 is the first after the batch). */
  readonly axis: number;
  readonly keepdims: boolean;
}

export const mean: KindDef<MeanNode> = {
  kind: 'mean',
  inputs: (n) => [n.input],
  shape: (n, [x]) => (n.keepdims ? x.map((d, i) => (i === n.axis ? 1 : d)) : x.filter((_, i) => i !== n.axis)),
  check: (n, [x]) => (n.axis < x.length && (n.keepdims || x.length > 1) ? undefined : `takes the mean over axis ${n.axis} of a value of shape [${x.join(', ')}]`),
  read: (r) => ({kind: 'mean', name: r.name, input: r.value('input'), axis: r.int('axis', 0, MAX_AXES - 1), keepdims: r.flag('keepdims')}),
  params: () => [],
  // ReduceSum (its axes an input from opset 13 on, as every export of cbp), divided by the count: ReduceMean's axes
  // moved from an attribute to an input at opset 18, and cbp's exports span 13 to 25.
  onnx: (n, g) => g.emit(n, 'Div', [g.ops.op('ReduceSum', [g.value(n.input), g.ops.i64([n.axis + 1])], {keepdims: n.keepdims ? 1 : 0}), g.ops.f32(g.shape(n.input)[n.axis])]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const count = g.shape(n.input)[n.axis];
    o.op('Div', [o.op('ReduceSum', [x, o.i64([n.axis + 1])], {keepdims: n.keepdims ? 1 : 0}), o.f32(count)], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const kept = n.keepdims ? gy : o.op('Unsqueeze', [gy, o.i64([n.axis + 1])]);
      g.accumulate(x, o.op('Expand', [o.op('Div', [kept, o.f32(count)]), o.op('Shape', [x])]));
    });
  },
  fromOnnx: {
    // After reducemean (height and width of an image).
    ops: ['ReduceMean'],
    map(o) {
      const x = o.input();
      // x − mean (a Sub reads it) is LayerNorm's start, mapped only whole by the layernorm kind; no kind maps that
      // Sub alone, so such a mean is left to layernorm's reason, which names what the pattern lacks.
      if (o.readers().some((r) => r.op === 'Sub')) return '';
      const rank = x.shape.length + 1;
      const given = o.given(1) ? o.constant(1) : undefined;
      const axes = given?.kind === 'int' ? given.values : o.ints('axes');
      const axis = axes?.length === 1 && typeof axes[0] === 'number' ? (axes[0] < 0 ? axes[0] + rank : axes[0]) : -1;
      if (axis < 1 || axis >= rank) return 'ReduceMean other than over one per-sample axis, or height and width';
      o.emit({kind: 'mean', name: o.layerName(), input: x.name, axis: axis - 1, keepdims: o.int('keepdims', 1) !== 0}, [x.shape]);
      return undefined;
    },
  },
};
