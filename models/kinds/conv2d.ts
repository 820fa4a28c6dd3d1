import {quoted} from '../../src/core/shown';
import {INPUT, MAX_WIDTH, MAX_WINDOW, notImage, notWindow, onnxWindow, pads, windows, type Attr, type KindDef, type Pair, type WeightLayer} from './kind';

/**
 * A 2-d convolution (PyTorch's Conv2d): weight [out, in / groups, kh, kw], optional bias; grouped (groups > 1,
 * depthwise when groups = in) and dilated convolutions carry `groups` and `dilation`, which specs stored before
 * they existed leave out (1 and 1×1).
 */
export interface Conv2dNode extends WeightLayer {
  readonly kind: 'conv2d';
  readonly input: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly bias: boolean;
  readonly groups?: number;
  readonly dilation?: Pair;
}

const groupsOf = (n: Conv2dNode): number => n.groups ?? 1;
const dilationOf = (n: Conv2dNode): Pair => n.dilation ?? [1, 1];
const weightShape = (n: Conv2dNode): number[] => [n.outChannels, n.inChannels / groupsOf(n), n.kernel[0], n.kernel[1]];

/** ONNX Conv attributes; group and dilations only where they differ from ONNX's defaults (files stay as they were). */
function convAttrs(n: Conv2dNode): Record<string, Attr> {
  const d = dilationOf(n);
  return {
    kernel_shape: n.kernel,
    strides: n.stride,
    pads: pads(n.padding),
    ...(groupsOf(n) !== 1 ? {group: groupsOf(n)} : {}),
    ...(d[0] !== 1 || d[1] !== 1 ? {dilations: d} : {}),
  };
}

export const conv2d: KindDef<Conv2dNode> = {
  kind: 'conv2d',
  inputs: (n) => [n.input],
  shape: (n, [[, h, w]]) => {
    const d = dilationOf(n);
    return [n.outChannels, windows(h, n.kernel[0], n.stride[0], n.padding[0], d[0]), windows(w, n.kernel[1], n.stride[1], n.padding[1], d[1])];
  },
  check: (n, [x]) => {
    const g = groupsOf(n);
    if (n.inChannels % g !== 0 || n.outChannels % g !== 0) return `has ${g} groups, which divide neither ${n.inChannels} input nor ${n.outChannels} output channels evenly`;
    return notImage(x, n.inChannels) ?? notWindow(x[1], x[2], n.kernel, n.stride, n.padding, dilationOf(n));
  },
  read: (r) => ({
    kind: 'conv2d',
    name: r.name,
    input: r.value('input'),
    inChannels: r.int('inChannels', 1, MAX_WIDTH),
    outChannels: r.int('outChannels', 1, MAX_WIDTH),
    kernel: r.pair('kernel', 1, MAX_WINDOW),
    stride: r.pair('stride', 1, MAX_WINDOW),
    padding: r.pair('padding', 0, MAX_WINDOW),
    bias: r.flag('bias'),
    constrained: r.flag('constrained'),
    ...(r.has('groups') ? {groups: r.int('groups', 1, MAX_WIDTH)} : {}),
    ...(r.has('dilation') ? {dilation: r.pair('dilation', 1, MAX_WINDOW)} : {}),
  }),
  params: (n) => [
    {suffix: 'weight', role: 'weight', shape: weightShape(n), trainable: true},
    ...(n.bias ? [{suffix: 'bias', role: 'bias' as const, shape: [n.outChannels], trainable: true}] : []),
  ],
  weight: (n) => n,
  onnx(n, g) {
    const inputs = [g.value(n.input), g.weight(n, weightShape(n).reduce((a, b) => a * b, 1))];
    if (n.bias) inputs.push(g.param(`${n.name}.bias`));
    g.emit(n, 'Conv', inputs, convAttrs(n));
  },
  train(n, g) {
    const x = g.value(n.input);
    const [cin, h, w] = g.shape(n.input);
    const weight = g.param(`${n.name}.weight`, weightShape(n));
    const bias = n.bias ? g.param(`${n.name}.bias`, [n.outChannels]) : undefined;
    g.conv.forward(bias ? [x, weight, bias] : [x, weight], cin, n.outChannels, convAttrs(n), n.name);
    const [, ho, wo] = g.shape(n.name);
    const geometry = {cin, cout: n.outChannels, in: [h, w] as const, out: [ho, wo] as const, kernel: n.kernel, stride: n.stride, padding: n.padding, groups: groupsOf(n), dilation: dilationOf(n)};
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      if (bias) g.accumulate(bias, g.ops.op('ReduceSum', [gy, g.ops.i64([0, 2, 3])], {keepdims: 0}));
      g.accumulate(weight, g.conv.filterGrad(x, gy, geometry));
      if (g.needsGrad(n.input)) g.accumulate(x, g.conv.inputGrad(gy, weight, geometry));
    });
  },
  tfjsLacks: (n, _training) => (groupsOf(n) !== 1 ? 'grouped convolution' : dilationOf(n).some((d) => d !== 1) ? 'dilated convolution' : undefined),
  tfjs(n, k, [x]) {
    const y = k.conv2d(x, k.weight(n), n.stride, n.padding, n.input === INPUT);
    return n.bias ? k.add(y, k.param(`${n.name}.bias`)) : y;
  },
  fromOnnx: {
    ops: ['Conv'],
    refuses(node) {
      if (node.int('group', 1) < 1) return 'Conv with group below 1';
      const w = onnxWindow(node);
      return typeof w === 'string' ? w : undefined;
    },
    map(o) {
      const x = o.input();
      const w = o.param(1, 'weight');
      if (w.dims.length !== 4) o.fail(`has weight ${quoted(w.name)} of dims [${w.dims.join(', ')}], expected [out, in, kh, kw]`);
      const [out, perGroup, kh, kw] = w.dims;
      const groups = o.int('group', 1);
      const cin = perGroup * groups;
      if (cin !== x.shape[0] || out % groups !== 0) o.fail(`has group ${groups} and weight ${quoted(w.name)} of dims [${w.dims.join(', ')}] for an input of ${x.shape[0]} channels`);
      const win = onnxWindow(o);
      if (typeof win === 'string') return o.fail(win);
      if (win.kernel !== undefined && (win.kernel[0] !== kh || win.kernel[1] !== kw)) o.fail(`has kernel_shape [${win.kernel.join(', ')}] but weight ${quoted(w.name)} of dims [${w.dims.join(', ')}]`);
      const bias = o.given(2) ? o.param(2, 'bias', [out]) : undefined;
      const name = o.layerName(o.stateName(1, 'weight'));
      o.tensor(`${name}.weight`, [out, perGroup, kh, kw], w.values);
      if (bias) o.tensor(`${name}.bias`, [out], bias.values);
      // A bias the exporter named itself: an eval-mode export folded a batch norm into this convolution.
      if (bias?.name.startsWith('onnx::')) o.foldedBatchNorm();
      const dilated = win.dilation[0] !== 1 || win.dilation[1] !== 1;
      o.emit(
        {kind: 'conv2d', name, input: x.name, inChannels: cin, outChannels: out, kernel: [kh, kw], stride: win.stride, padding: win.padding, bias: bias !== undefined, constrained: false, ...(groups !== 1 ? {groups} : {}), ...(dilated ? {dilation: win.dilation} : {})},
        [x.shape],
      );
      return undefined;
    },
  },
};
