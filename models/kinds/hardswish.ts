import type {KindDef, NodeBase} from './kind';

/**
 * x · relu6(x + 3)/6 (PyTorch's Hardswish; ONNX's HardSwish from opset 14). Written as x · HardSigmoid(x), which runs
 * at every opset the writer uses; the gradient is PyTorch's hardswish_backward: 0 below −3, (x/3 + ½) from −3 up to
 * 3, 1 from 3 on. (PyTorch 1.13's vectorized CPU kernel, which a tensor's elements go through, passes gy itself at
 * x = 3; its scalar tail gives 1.5·gy there.)
 */
export interface HardSwishNode extends NodeBase {
  readonly kind: 'hardswish';
  readonly input: string;
}

const SIXTH = {alpha: {float: 1 / 6}, beta: {float: 0.5}};

export const hardswish: KindDef<HardSwishNode> = {
  kind: 'hardswish',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: () => undefined,
  read: (r) => ({kind: 'hardswish', name: r.name, input: r.value('input')}),
  params: () => [],
  onnx: (n, g) => {
    const x = g.value(n.input);
    g.emit(n, 'Mul', [x, g.ops.op('HardSigmoid', [x], SIXTH)]);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    o.op('Mul', [x, o.op('HardSigmoid', [x], SIXTH)], {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      const slope = o.op('Mul', [gy, o.op('Add', [o.op('Div', [x, o.f32(3)]), o.f32(0.5)])]);
      const upper = o.op('Where', [o.op('Less', [x, o.f32(3)]), slope, gy]);
      g.accumulate(x, o.op('Where', [o.op('Less', [x, o.f32(-3)]), o.f32(0), upper]));
    });
  },
  fromOnnx: {
    ops: ['HardSwish'],
    map(o) {
      const x = o.input();
      o.emit({kind: 'hardswish', name: o.layerName(), input: x.name}, [x.shape]);
      return undefined;
    },
  },
};
