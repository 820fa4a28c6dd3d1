import {notImage, type KindDef, type NodeBase} from './kind';

/** The mean over height and width (x.mean([2, 3]), keepdim or not): [C, H, W] → [C] or [C, 1, 1]. */
export interface ReduceMeanNode extends NodeBase {
  readonly kind: 'reducemean';
  readonly input: string;
  readonly keepdims: boolean;
}

/** Whether ONNX axes of a rank-4 value are its height and width (2 and 3, in any order, negative or not). */
const spatial = (axes: readonly (number | string)[]): boolean => axes.map((a) => (typeof a === 'number' && a < 0 ? a + 4 : a)).sort().join() === '2,3';

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
  fromOnnx: {
    ops: ['ReduceMean'],
    refuses(node) {
      // One axis is the mean kind's (tokens).
      const axes = node.ints('axes');
      return axes === undefined || axes.length <= 1 || spatial(axes) ? undefined : 'ReduceMean over axes other than height and width, or one per-sample axis';
    },
    map(o) {
      const x = o.input();
      // Opset 18 moved the axes to an input; either must say height and width.
      const given = o.given(1) ? o.constant(1) : undefined;
      const axes = given?.kind === 'int' ? given.values : o.ints('axes');
      if (x.shape.length !== 3 || axes === undefined || !spatial(axes)) return 'ReduceMean over axes other than height and width';
      o.emit({kind: 'reducemean', name: o.layerName(), input: x.name, keepdims: o.int('keepdims', 1) !== 0}, [x.shape]);
      return undefined;
    },
  },
};
