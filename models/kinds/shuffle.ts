import {BATCH, MAX_WIDTH, notImage, type KindDef, type NodeBase} from './kind';

/**
 * ShuffleNet's channel shuffle: x.view(N, g, C/g, H, W).transpose(1, 2).reshape(N, C, H, W), which moves channel
 * i·C/g + j to j·g + i. Written as one Gather of the channels through that permutation; its gradient gathers back.
 */
export interface ShuffleNode extends NodeBase {
  readonly kind: 'shuffle';
  readonly input: string;
  readonly channels: number;
  readonly groups: number;
}

/** Output channel k reads input channel source[k]. */
function sources(channels: number, groups: number): number[] {
  const per = channels / groups;
  return Array.from({length: channels}, (_, k) => (k % groups) * per + Math.floor(k / groups));
}

export const shuffle: KindDef<ShuffleNode> = {
  kind: 'shuffle',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => notImage(x, n.channels) ?? (n.channels % n.groups === 0 ? undefined : `shuffles ${n.channels} channels in ${n.groups} groups, which do not divide them`),
  read: (r) => ({kind: 'shuffle', name: r.name, input: r.value('input'), channels: r.int('channels', 1, MAX_WIDTH), groups: r.int('groups', 1, MAX_WIDTH)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Gather', [g.value(n.input), g.ops.i64(sources(n.channels, n.groups))], {axis: 1}),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const from = sources(n.channels, n.groups);
    o.op('Gather', [x, o.i64(from)], {axis: 1}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const back = new Array<number>(n.channels);
      from.forEach((s, k) => {
        back[s] = k;
      });
      g.accumulate(x, o.op('Gather', [gy, o.i64(back)], {axis: 1}));
    });
  },
  fromOnnx: {
    // x.view(N, g, C/g, H, W): held as `grouped`; .transpose(1, 2): `swapped`; .reshape(N, C, H, W): the shuffle.
    ops: ['Reshape', 'Transpose'],
    map(o) {
      if (o.holding) {
        const held = o.held(0);
        if (o.op === 'Transpose' && held?.step === 'grouped' && (o.ints('perm') ?? []).join() === '0,2,1,3,4') {
          o.hold('swapped', held.value, held.count);
          return undefined;
        }
        if (o.op === 'Reshape' && held?.step === 'swapped') {
          const to = o.constant(1);
          const [c, h, w] = held.value.shape;
          const v = to?.kind === 'int' ? to.values : [];
          if (v.length === 4 && (v[0] === BATCH || v[0] === 0) && (v[1] === c || v[1] === -1) && v[2] === h && v[3] === w) {
            o.emit({kind: 'shuffle', name: o.layerName(undefined, 'shuffle'), input: held.value.name, channels: c, groups: held.count}, [held.value.shape]);
            return undefined;
          }
        }
        return 'Reshape or Transpose other than a channel shuffle';
      }
      const x = o.input();
      // A Transpose or Reshape that does not start a shuffle is nothing to this kind (the permute and reshape kinds').
      if (o.op === 'Transpose') return '';
      const to = o.constant(1);
      const v = to?.kind === 'int' ? to.values : [];
      const first = v[0] === BATCH || (v[0] === 0 && o.int('allowzero', 0) === 0);
      const [c, h, w] = x.shape;
      const groups = v[1];
      if (x.shape.length === 3 && v.length === 5 && first && typeof groups === 'number' && groups >= 1 && c % groups === 0 && (v[2] === c / groups || v[2] === -1) && v[3] === h && v[4] === w) {
        o.hold('grouped', x, groups);
        return undefined;
      }
      return '';
    },
  },
};
