import {notImage, type KindDef, type NodeBase} from './kind';

/** The mean over height and width (AdaptiveAvgPool2d(1)): [C, H, W] → [C, 1, 1]. */
export interface GlobalAvgPoolNode extends NodeBase {
  readonly kind: 'globalavgpool';
  readonly input: string;
}

export const globalavgpool: KindDef<GlobalAvgPoolNode> = {
  kind: 'globalavgpool',
  inputs: (n) => [n.input],
  shape: (_n, [[c]]) => [c, 1, 1],
  check: (_n, [x]) => notImage(x),
  read: (r) => ({kind: 'globalavgpool', name: r.name, input: r.value('input')}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'GlobalAveragePool', [g.value(n.input)]),
  train(n, g) {
    const x = g.value(n.input);
    const [, h, w] = g.shape(n.input);
    g.ops.op('GlobalAveragePool', [x], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, g.ops.op('Expand', [g.ops.op('Mul', [gy, g.ops.f32(1 / (h * w))]), g.ops.op('Shape', [x])]));
    });
  },
  tfjs: (_n, k, [x]) => k.spatialMean(x),
  fromOnnx: {
    ops: ['GlobalAveragePool'],
    map(o) {
      const x = o.input();
      o.emit({kind: 'globalavgpool', name: o.layerName(), input: x.name}, [x.shape]);
      return undefined;
    },
  },
};
