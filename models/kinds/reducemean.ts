import {notImage, type KindDef, type NodeBase} from './kind';

/** The mean over height and width (x.mean([2, 3]), keepdim or not): [C, H, W] → [C] or [C, 1, 1]. */
export interface ReduceMeanNode extends NodeBase {
  readonly kind: 'reducemean';
  readonly input: string;
  readonly keepdims: boolean;
}

export const reducemean: KindDef<ReduceMeanNode> = {
  kind: 'reducemean',
  inputs: (n) => [n.input],
  shape: (n, [[c]]) => (n.keepdims ? [c, 1, 1] : [c]),
  check: (_n, [x]) => notImage(x),
  read: (r) => ({kind: 'reducemean', name: r.name, input: r.value('input'), keepdims: r.flag('keepdims')}),
  params: () => [],
  // GlobalAveragePool (and Flatten): the same at every opset, where ReduceMean's axes moved to an input in opset 18.
  onnx: (n, g) => {
    const x = g.value(n.input);
    if (n.keepdims) g.emit(n, 'GlobalAveragePool', [x]);
    else g.emit(n, 'Flatten', [g.ops.op('GlobalAveragePool', [x])], {axis: 1});
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const [c, h, w] = g.shape(n.input);
    if (n.keepdims) o.op('GlobalAveragePool', [x], {}, n.name);
    else o.op('Flatten', [o.op('GlobalAveragePool', [x])], {axis: 1}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const g4 = n.keepdims ? gy : o.op('Reshape', [gy, o.i64([-1, c, 1, 1])]);
      g.accumulate(x, o.op('Expand', [o.op('Mul', [g4, o.f32(1 / (h * w))]), o.op('Shape', [x])]));
    });
  },
  tfjs: (n, k, [x]) => (n.keepdims ? k.spatialMean(x) : k.flatten(k.spatialMean(x))),
};
