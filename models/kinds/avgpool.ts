import {notOnnxPool, notPoolInput, onnxPool, pads, poolShape, readPoolWindow, type KindDef, type NodeBase, type PoolWindow} from './kind';

/**
 * PyTorch's AvgPool2d: by default padded zeros count (count_include_pad) and floor mode; `excludePad` and `ceil`
 * (both absent in older specs) are count_include_pad=False and ceil_mode=True.
 */
export interface AvgPoolNode extends NodeBase, PoolWindow {
  readonly kind: 'avgpool';
  readonly input: string;
  readonly excludePad?: boolean;
}

const attrs = (n: AvgPoolNode): Record<string, number[] | number> => ({
  kernel_shape: [...n.kernel],
  strides: [...n.stride],
  pads: pads(n.padding),
  count_include_pad: n.excludePad === true ? 0 : 1,
  ...(n.ceil === true ? {ceil_mode: 1} : {}),
});

/**
 * What each output of one axis is divided by, as PyTorch's avg_pool2d computes it: the window clipped to the padded
 * input (a ceil-mode window may hang past it), and without padding further clipped to the input when padding does
 * not count.
 */
function divisors(n: number, k: number, s: number, p: number, out: number, countPad: boolean): number[] {
  return Array.from({length: out}, (_, o) => {
    const start = o * s - p;
    const end = Math.min(start + k, n + p);
    return countPad ? end - start : Math.min(end, n) - Math.max(start, 0);
  });
}

export const avgpool: KindDef<AvgPoolNode> = {
  kind: 'avgpool',
  inputs: (n) => [n.input],
  shape: (n, [x]) => poolShape(n, x),
  check: (n, [x]) => notPoolInput(n, x),
  read: (r) => ({
    kind: 'avgpool',
    name: r.name,
    input: r.value('input'),
    ...readPoolWindow(r),
    ...(r.has('excludePad') && r.flag('excludePad') ? {excludePad: true} : {}),
  }),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'AveragePool', [g.value(n.input)], attrs(n)),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const [c, h, w] = g.shape(n.input);
    o.op('AveragePool', [x], attrs(n), n.name);
    const [, ho, wo] = g.shape(n.name);
    const [kh, kw] = n.kernel;
    const [sh, sw] = n.stride;
    const [ph, pw] = n.padding;
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      if (n.ceil !== true && n.excludePad !== true) {
        // Each output spreads its gradient evenly over its window: a depthwise transposed convolution.
        const spread = o.f32(1 / (kh * kw), [c, 1, kh, kw]);
        const outPad = [h - ((ho - 1) * sh + kh - 2 * ph), w - ((wo - 1) * sw + kw - 2 * pw)];
        g.accumulate(x, o.op('ConvTranspose', [gy, spread], {kernel_shape: [kh, kw], strides: [sh, sw], pads: pads(n.padding), output_padding: outPad, group: c}));
        return;
      }
      // Each output's gradient divided by its own window's count, then spread over the window (a depthwise
      // transposed convolution of ones); past the input's end, what a ceil-mode window covers is cropped.
      const [dh, dw] = [divisors(h, kh, sh, ph, ho, n.excludePad !== true), divisors(w, kw, sw, pw, wo, n.excludePad !== true)];
      const table = o.op('Reshape', [o.f32Vector(dh.flatMap((a) => dw.map((b) => a * b))), o.i64([ho, wo])]);
      const [eh, ew] = [(ho - 1) * sh + kh - ph - h, (wo - 1) * sw + kw - pw - w];
      const spread = o.op('ConvTranspose', [o.op('Div', [gy, table]), o.f32(1, [c, 1, kh, kw])], {
        kernel_shape: [kh, kw],
        strides: [sh, sw],
        pads: [ph, pw, Math.max(eh, 0), Math.max(ew, 0)],
        output_padding: [Math.max(-eh, 0), Math.max(-ew, 0)],
        group: c,
      });
      g.accumulate(x, spread);
    });
  },
  tfjs: (n, k, [x]) => k.avgPool(n.name, x, n.kernel, n.stride, n.padding),
  tfjsLacks: (n) => (n.ceil === true ? 'ceil-mode average pooling' : n.excludePad === true ? 'average pooling without padding counted' : undefined),
  fromOnnx: {
    ops: ['AveragePool'],
    refuses: (node) => notOnnxPool(node),
    map(o) {
      const x = o.input();
      const pool = onnxPool(o, x);
      // Without padding, counting it or not is the same (PyTorch clips a ceil-mode window to the padded input).
      const excludePad = o.int('count_include_pad', 0) === 0 && (pool.padding[0] > 0 || pool.padding[1] > 0);
      o.emit({kind: 'avgpool', ...pool, ...(excludePad ? {excludePad: true} : {})}, [x.shape]);
      return undefined;
    },
  },
};
