import {MAX_IMPORT_SIDE, MAX_WINDOW, notImage, type KindDef, type NodeBase, type Pair} from './kind';

/** Zeros added around an image (F.pad(x, (left, right, top, bottom)), nn.ZeroPad2d): `begin` top and left, `end` bottom and right. */
export interface PadNode extends NodeBase {
  readonly kind: 'pad';
  readonly input: string;
  readonly begin: Pair;
  readonly end: Pair;
}

const onnxPads = (n: PadNode): number[] => [0, 0, n.begin[0], n.begin[1], 0, 0, n.end[0], n.end[1]];

export const pad: KindDef<PadNode> = {
  kind: 'pad',
  inputs: (n) => [n.input],
  shape: (n, [[c, h, w]]) => [c, h + n.begin[0] + n.end[0], w + n.begin[1] + n.end[1]],
  check: (_n, [x]) => notImage(x),
  read: (r) => ({kind: 'pad', name: r.name, input: r.value('input'), begin: r.pair('begin', 0, MAX_WINDOW), end: r.pair('end', 0, MAX_WINDOW)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Pad', [g.value(n.input), g.ops.i64(onnxPads(n))]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Pad', [x, o.i64(onnxPads(n))], {}, n.name);
    const [, h, w] = g.shape(n.input);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, o.op('Slice', [gy, o.i64(n.begin), o.i64([n.begin[0] + h, n.begin[1] + w]), o.i64([2, 3])]));
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
      if (x.shape.length !== 3 || p.length !== 8 || p.some((v) => typeof v !== 'number' || v < 0) || p[0] !== 0 || p[1] !== 0 || p[4] !== 0 || p[5] !== 0) {
        return 'Pad other than constant zeros around the height and width';
      }
      if (p.every((v) => v === 0)) o.pass(x);
      else o.emit({kind: 'pad', name: o.layerName(), input: x.name, begin: [Number(p[2]), Number(p[3])], end: [Number(p[6]), Number(p[7])]}, [x.shape]);
      return undefined;
    },
  },
};
