import {MAX_IMPORT_SIDE, MAX_WINDOW, notImage, type KindDef, type NodeBase, type Pair} from './kind';

/**
 * Zeros added around an image (F.pad(x, (left, right, top, bottom)), nn.ZeroPad2d): `begin` top and left, `end` bottom
 * and right; or around a channels-last [H, W, C] (torchvision Swin's PatchMerging, F.pad(x, (0, 0, 0, W % 2, 0, H % 2))).
 */
export interface PadNode extends NodeBase {
  readonly kind: 'pad';
  readonly input: string;
  readonly begin: Pair;
  readonly end: Pair;
  /** The input is [H, W, C] rather than [C, H, W] (absent in specs stored before it). */
  readonly channelsLast?: boolean;
}

const onnxPads = (n: PadNode): number[] =>
  n.channelsLast === true ? [0, n.begin[0], n.begin[1], 0, 0, n.end[0], n.end[1], 0] : [0, 0, n.begin[0], n.begin[1], 0, 0, n.end[0], n.end[1]];
/** The full axes of height and width. */
const hwAxes = (n: PadNode): number[] => (n.channelsLast === true ? [1, 2] : [2, 3]);

export const pad: KindDef<PadNode> = {
  kind: 'pad',
  inputs: (n) => [n.input],
  shape: (n, [x]) => {
    const [h, w] = n.channelsLast === true ? [x[0], x[1]] : [x[1], x[2]];
    const [ph, pw] = [h + n.begin[0] + n.end[0], w + n.begin[1] + n.end[1]];
    return n.channelsLast === true ? [ph, pw, x[2]] : [x[0], ph, pw];
  },
  check: (n, [x]) => (n.channelsLast === true ? (x.length === 3 ? undefined : `expects a channels-last [H, W, C], its input is [${x.join(', ')}]`) : notImage(x)),
  read: (r) => ({
    kind: 'pad',
    name: r.name,
    input: r.value('input'),
    begin: r.pair('begin', 0, MAX_WINDOW),
    end: r.pair('end', 0, MAX_WINDOW),
    ...(r.has('channelsLast') && r.flag('channelsLast') ? {channelsLast: true} : {}),
  }),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Pad', [g.value(n.input), g.ops.i64(onnxPads(n))]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Pad', [x, o.i64(onnxPads(n))], {}, n.name);
    const s = g.shape(n.input);
    const [h, w] = n.channelsLast === true ? [s[0], s[1]] : [s[1], s[2]];
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, o.op('Slice', [gy, o.i64(n.begin), o.i64([n.begin[0] + h, n.begin[1] + w]), o.i64(hwAxes(n))]));
    });
  },
  fromOnnx: {
    ops: ['Pad'],
    refuses(node) {
      const mode = node.string('mode');
      return mode === '' || mode === 'constant' ? undefined : `Pad with mode ${mode}`;
    },
    map(o) {
      const x = o.input();
      const pads = o.given(1) ? o.constant(1) : undefined;
      const value = o.given(2) ? o.constant(2) : undefined;
      const p = pads?.kind === 'int' ? pads.values : [];
      if (o.given(3)) return 'Pad with axes';
      if (value !== undefined && (value.kind !== 'float' || value.values.some((v) => v !== 0))) return 'Pad with a value other than 0';
      if (p.some((v) => typeof v === 'number' && (!Number.isSafeInteger(v) || v > MAX_IMPORT_SIDE))) return `Pad by more than ${MAX_IMPORT_SIDE}`;
      if (x.shape.length !== 3 || p.length !== 8 || p.some((v) => typeof v !== 'number' || v < 0) || p[0] !== 0 || p[4] !== 0) {
        return 'Pad other than constant zeros around the height and width';
      }
      const q = p.map(Number);
      if (q.every((v) => v === 0)) o.pass(x);
      else if (q[1] === 0 && q[5] === 0) o.emit({kind: 'pad', name: o.layerName(), input: x.name, begin: [q[2], q[3]], end: [q[6], q[7]]}, [x.shape]);
      // A channels-last [H, W, C]: nothing added to the last axis.
      else if (q[3] === 0 && q[7] === 0) o.emit({kind: 'pad', name: o.layerName(), input: x.name, begin: [q[1], q[2]], end: [q[5], q[6]], channelsLast: true}, [x.shape]);
      else return 'Pad other than constant zeros around the height and width';
      return undefined;
    },
  },
};
