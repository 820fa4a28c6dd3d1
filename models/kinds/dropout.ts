import {quoted} from '../../src/core/shown';
import type {KindDef, NodeBase} from './kind';

/**
 * Dropout (PyTorch's nn.Dropout): in training, each value is zeroed with probability p and the rest scaled by
 * 1/(1 − p); at inference, the identity. The masks come from the run's seeded generator, one draw per step (the
 * ONNX Runtime engine feeds them to the training graph), so a resumed run draws the same masks.
 */
export interface DropoutNode extends NodeBase {
  readonly kind: 'dropout';
  readonly input: string;
  /** The probability of zeroing a value, in [0, 1). */
  readonly p: number;
}

export const dropout: KindDef<DropoutNode> = {
  kind: 'dropout',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n) => (n.p >= 0 && n.p < 1 ? undefined : `has dropout probability ${n.p}, expected one in [0, 1)`),
  read: (r) => ({kind: 'dropout', name: r.name, input: r.value('input'), p: r.num('p', 0, 0.999)}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'Identity', [g.value(n.input)]),
  tfjs: (_n, _k, [x]) => x,
  tfjsLacks: (n, training) => (training && n.p > 0 ? 'dropout in training' : undefined),
  train(n, g) {
    const x = g.value(n.input);
    if (n.p === 0) {
      g.ops.op('Identity', [x], {}, n.name);
    } else {
      const mask = g.dropoutMask(n.name, n.p, g.shape(n.input));
      g.ops.op('Mul', [x, mask], {}, n.name);
      g.backward(() => {
        const gy = g.gradOf(n.name);
        if (gy === undefined || !g.needsGrad(n.input)) return;
        g.accumulate(x, g.ops.op('Mul', [gy, mask]));
      });
      return;
    }
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy !== undefined && g.needsGrad(n.input)) g.accumulate(x, gy);
    });
  },
  fromOnnx: {
    ops: ['Dropout'],
    refuses: (node) => (node.outputUsed(1) ? 'Dropout with its mask used' : undefined),
    map(o) {
      const x = o.input();
      // The module's dropout: trained with masks, the identity at inference. Opset 12+ gives the ratio as an
      // input, earlier ones as an attribute; the training_mode input only says how the file itself runs.
      const given = o.given(1) ? o.constant(1) : undefined;
      if (o.given(1) && (given?.kind !== 'float' || given.values.length !== 1)) o.fail(`takes its ratio from ${quoted(o.inputName(1))}, which is not one constant number`);
      const p = given?.kind === 'float' ? given.values[0] : o.float('ratio', 0.5);
      if (!(p >= 0 && p < 1)) o.fail(`has ratio ${p}, expected one in [0, 1)`);
      o.emit({kind: 'dropout', name: o.layerName(), input: x.name, p: Number(p.toPrecision(6))}, [x.shape]);
      return undefined;
    },
  },
};
