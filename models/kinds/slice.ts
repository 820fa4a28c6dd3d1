import {MAX_WIDTH, type KindDef, type NodeBase} from './kind';

/** Channels [start, end) of a value (x[:, start:end], one part of torch.chunk or torch.split on axis 1). */
export interface SliceNode extends NodeBase {
  readonly kind: 'slice';
  readonly input: string;
  readonly start: number;
  readonly end: number;
}

export const slice: KindDef<SliceNode> = {
  kind: 'slice',
  inputs: (n) => [n.input],
  shape: (n, [x]) => [n.end - n.start, ...x.slice(1)],
  check: (n, [x]) => (x.length >= 1 && n.start < n.end && n.end <= x[0] ? undefined : `takes channels [${n.start}, ${n.end}) of a value of shape [${x.join(', ')}]`),
  read: (r) => ({kind: 'slice', name: r.name, input: r.value('input'), start: r.int('start', 0, MAX_WIDTH), end: r.int('end', 1, MAX_WIDTH)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Slice', [g.value(n.input), g.ops.i64([n.start]), g.ops.i64([n.end]), g.ops.i64([1])]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Slice', [x, o.i64([n.start]), o.i64([n.end]), o.i64([1])], {}, n.name);
    const shape = g.shape(n.input);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      // Zeros for the channels outside [start, end).
      const pads = [0, n.start, ...shape.slice(1).map(() => 0), 0, shape[0] - n.end, ...shape.slice(1).map(() => 0)];
      g.accumulate(x, o.op('Pad', [gy, o.i64(pads)]));
    });
  },
};
