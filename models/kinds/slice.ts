import {MAX_WIDTH, type KindDef, type NodeBase, type OnnxConst} from './kind';

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
  fromOnnx: {
    ops: ['Slice', 'Split'],
    map(o) {
      const x = o.input();
      const rank = x.shape.length + 1;
      const channels = x.shape[0];
      if (o.op === 'Split') {
        const axis = o.int('axis', 0);
        if ((axis < 0 ? axis + rank : axis) !== 1) return 'Split on an axis other than 1 (the channels)';
        const given = o.given(1) ? o.constant(1) : undefined;
        const parts = o.outputs;
        // The sizes: the split input (opset 13 on) or attribute, else equal parts (opset 18: the last one smaller).
        const listed = given?.kind === 'int' ? given.values : o.ints('split');
        const each = Math.ceil(channels / parts);
        const sizes = listed ?? Array.from({length: parts}, (_, i) => Math.max(0, Math.min(each, channels - i * each)));
        if (sizes.length !== parts || sizes.some((v) => typeof v !== 'number' || v < 0) || sizes.reduce<number>((a, b) => a + Number(b), 0) !== channels) {
          o.fail(`splits ${channels} channels into parts [${sizes.join(', ')}]`);
        }
        let start = 0;
        sizes.forEach((size, i) => {
          const end = start + Number(size);
          if (o.outputUsed(i) && end > start) o.emitOutput(i, {kind: 'slice', name: o.layerName(undefined, 'split'), input: x.name, start, end}, [x.shape]);
          start = end;
        });
        return undefined;
      }
      const [starts, ends, axes, steps] = [1, 2, 3, 4].map((k) => (o.given(k) ? o.constant(k) : undefined));
      const one = (c: OnnxConst | undefined): number | undefined => (c?.kind === 'int' && c.values.length === 1 && typeof c.values[0] === 'number' ? c.values[0] : undefined);
      const [s0, e0, a0] = [one(starts), one(ends), axes === undefined ? 0 : one(axes)];
      if (s0 === undefined || e0 === undefined || a0 === undefined || (a0 < 0 ? a0 + rank : a0) !== 1 || (steps !== undefined && one(steps) !== 1)) {
        return 'Slice other than of channels (axis 1, step 1)';
      }
      const clamp = (v: number): number => Math.min(channels, Math.max(0, v < 0 ? v + channels : v));
      const [start, end] = [clamp(s0), clamp(e0)];
      if (start >= end) o.fail(`takes channels [${s0}, ${e0}) of ${channels}: none`);
      if (start === 0 && end === channels) o.pass(x);
      else o.emit({kind: 'slice', name: o.layerName(), input: x.name, start, end}, [x.shape]);
      return undefined;
    },
  },
};
