import {MAX_WINDOW, notImage, notPool, notWindow, pads, windows, type KindDef, type NodeBase, type Pair} from './kind';

/** PyTorch's AvgPool2d with its defaults: padded zeros count (count_include_pad), floor mode. */
export interface AvgPoolNode extends NodeBase {
  readonly kind: 'avgpool';
  readonly input: string;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
}

export const avgpool: KindDef<AvgPoolNode> = {
  kind: 'avgpool',
  inputs: (n) => [n.input],
  shape: (n, [[c, h, w]]) => [c, windows(h, n.kernel[0], n.stride[0], n.padding[0]), windows(w, n.kernel[1], n.stride[1], n.padding[1])],
  check: (n, [x]) => notImage(x) ?? notPool(n.kernel, n.padding) ?? notWindow(x[1], x[2], n.kernel, n.stride, n.padding),
  read: (r) => ({kind: 'avgpool', name: r.name, input: r.value('input'), kernel: r.pair('kernel', 1, MAX_WINDOW), stride: r.pair('stride', 1, MAX_WINDOW), padding: r.pair('padding', 0, MAX_WINDOW)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'AveragePool', [g.value(n.input)], {kernel_shape: n.kernel, strides: n.stride, pads: pads(n.padding), count_include_pad: 1}),
  train(n, g) {
    const x = g.value(n.input);
    const [c, h, w] = g.shape(n.input);
    g.ops.op('AveragePool', [x], {kernel_shape: n.kernel, strides: n.stride, pads: pads(n.padding), count_include_pad: 1}, n.name);
    const [, ho, wo] = g.shape(n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const [kh, kw] = n.kernel;
      // Each output spreads its gradient evenly over its window: a depthwise transposed convolution.
      const spread = g.ops.f32(1 / (kh * kw), [c, 1, kh, kw]);
      const outPad = [h - ((ho - 1) * n.stride[0] + kh - 2 * n.padding[0]), w - ((wo - 1) * n.stride[1] + kw - 2 * n.padding[1])];
      g.accumulate(x, g.ops.op('ConvTranspose', [gy, spread], {kernel_shape: n.kernel, strides: n.stride, pads: pads(n.padding), output_padding: outPad, group: c}));
    });
  },
  tfjs: (n, k, [x]) => k.avgPool(n.name, x, n.kernel, n.stride, n.padding),
};
