import {MAX_AXES, MAX_WIDTH, padBand, type KindDef, type NodeBase, type OnnxConst, type Ops} from './kind';

/**
 * Positions [start, end) of one per-sample axis: channels (x[:, start:end], one part of torch.chunk or torch.split
 * on axis 1), or of a later axis (tokens x[:, 1:] of [N, T, C]; q, k, v = qkv.chunk(3, -1)); every `step`-th of them
 * (torchvision Swin's PatchMerging: x[..., 0::2, 1::2, :]). The gradient is the upstream gradient at the positions
 * taken, zeros at the others.
 */
export interface SliceNode extends NodeBase {
  readonly kind: 'slice';
  readonly input: string;
  readonly start: number;
  readonly end: number;
  /** The per-sample axis (0, the channels, when absent; specs stored before it had only that). */
  readonly axis?: number;
  /** Every step-th position from start (1 when absent). */
  readonly step?: number;
}

const axisOf = (n: SliceNode): number => n.axis ?? 0;
const stepOf = (n: SliceNode): number => n.step ?? 1;
/** How many positions the slice takes. */
const count = (n: SliceNode): number => Math.ceil((n.end - n.start) / stepOf(n));
/** Slice's inputs after the data: starts, ends, axes (and steps when not 1). */
const sliceInputs = (o: Ops, n: SliceNode): string[] => [o.i64([n.start]), o.i64([n.end]), o.i64([axisOf(n) + 1]), ...(stepOf(n) !== 1 ? [o.i64([stepOf(n)])] : [])];

export const slice: KindDef<SliceNode> = {
  kind: 'slice',
  inputs: (n) => [n.input],
  shape: (n, [x]) => x.map((d, i) => (i === axisOf(n) ? count(n) : d)),
  check: (n, [x]) => {
    const a = axisOf(n);
    if (a < x.length && n.start < n.end && n.end <= x[a]) return undefined;
    return a === 0 ? `takes channels [${n.start}, ${n.end}) of a value of shape [${x.join(', ')}]` : `takes [${n.start}, ${n.end}) of axis ${a} of a value of shape [${x.join(', ')}]`;
  },
  read: (r) => ({
    kind: 'slice',
    name: r.name,
    input: r.value('input'),
    start: r.int('start', 0, MAX_WIDTH),
    end: r.int('end', 1, MAX_WIDTH),
    ...(r.has('axis') ? {axis: r.int('axis', 0, MAX_AXES - 1)} : {}),
    ...(r.has('step') ? {step: r.int('step', 1, MAX_WIDTH)} : {}),
  }),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Slice', [g.value(n.input), ...sliceInputs(g.ops, n)]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const a = axisOf(n);
    const step = stepOf(n);
    o.op('Slice', [x, ...sliceInputs(o, n)], {}, n.name);
    const shape = g.shape(n.input);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const m = count(n);
      let spread = gy;
      // Between the positions taken, step − 1 zeros: [.., m, ..] → [.., m, step, ..] → [.., m·step, ..].
      if (step > 1) {
        const wide = padBand(o, o.op('Unsqueeze', [gy, o.i64([a + 2])]), {axis: a + 2, start: 0, size: 1, length: step, rank: shape.length + 2});
        spread = o.op('Reshape', [wide, o.i64([0, ...shape.map((d, i) => (i === a ? m * step : d))])]);
      }
      // The band from start to the last taken (its step − 1 zeros cut where they pass the end); zeros elsewhere.
      const taken = n.start + m * step;
      if (taken > shape[a]) spread = o.op('Slice', [spread, o.i64([0]), o.i64([shape[a] - n.start]), o.i64([a + 1])]);
      g.accumulateBand(x, spread, {axis: a + 1, start: n.start, size: Math.min(m * step, shape[a] - n.start), length: shape[a], rank: shape.length + 1});
    });
  },
  fromOnnx: {
    ops: ['Slice', 'Split'],
    map(o) {
      const x = o.input();
      const rank = x.shape.length + 1;
      // The per-sample axis, and its size (the channels of an image).
      const at = (axis: number): number => (axis < 0 ? axis + rank : axis) - 1;
      if (o.op === 'Split') {
        const a = at(o.int('axis', 0));
        if (a < 0 || a >= x.shape.length) return 'Split on the batch axis';
        const channels = x.shape[a];
        const axis = a === 0 ? {} : {axis: a};
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
          if (o.outputUsed(i) && end > start) o.emitOutput(i, {kind: 'slice', name: o.layerName(undefined, 'split'), input: x.name, start, end, ...axis}, [x.shape]);
          start = end;
        });
        return undefined;
      }
      const [starts, ends, axes, steps] = [1, 2, 3, 4].map((k) => (o.given(k) ? o.constant(k) : undefined));
      const one = (c: OnnxConst | undefined): number | undefined => (c?.kind === 'int' && c.values.length === 1 && typeof c.values[0] === 'number' ? c.values[0] : undefined);
      const [s0, e0, a0, step] = [one(starts), one(ends), axes === undefined ? 0 : one(axes), steps === undefined ? 1 : one(steps)];
      const a = a0 === undefined ? -1 : at(a0);
      if (s0 === undefined || e0 === undefined || a < 0 || a >= x.shape.length || step === undefined || step < 1 || step > MAX_WIDTH) {
        return 'Slice other than of one per-sample axis (a positive step)';
      }
      const size = x.shape[a];
      const clamp = (v: number): number => Math.min(size, Math.max(0, v < 0 ? v + size : v));
      const [start, end] = [clamp(s0), clamp(e0)];
      if (start >= end) o.fail(`takes [${s0}, ${e0}) of ${size} ${a === 0 ? 'channels' : `on axis ${a + 1}`}: none`);
      // The end of a strided slice as its last position taken + 1, so that a stored spec says what it takes.
      const last = end - ((end - start - 1) % step);
      if (start === 0 && end === size && step === 1) o.pass(x);
      else o.emit({kind: 'slice', name: o.layerName(), input: x.name, start, end: step === 1 ? end : last, ...(a === 0 ? {} : {axis: a}), ...(step === 1 ? {} : {step})}, [x.shape]);
      return undefined;
    },
  },
};
