import type {KindDef, NodeBase} from './kind';

/**
 * The batched product of two computed values a·b over their last two axes, per sample: [..., M, K] · [..., K, P] →
 * [..., M, P], the leading axes equal (attention's q·kᵀ and softmax(·)·v, per head). Its gradients are PyTorch's:
 * gy·bᵀ for a and aᵀ·gy for b.
 */
export interface MatMulNode extends NodeBase {
  readonly kind: 'matmul';
  readonly inputs: readonly [string, string];
}

/** The permutation of a value [N, ...] that swaps its last two axes. */
const swapLast = (rank: number): number[] => Array.from({length: rank + 1}, (_, i) => (i === rank - 1 ? rank : i === rank ? rank - 1 : i));

export const matmul: KindDef<MatMulNode> = {
  kind: 'matmul',
  inputs: (n) => n.inputs,
  shape: (_n, [a, b]) => [...a.slice(0, -1), b[b.length - 1]],
  check: (_n, [a, b]) => {
    const r = a.length;
    const ok = r >= 2 && b.length === r && a.slice(0, -2).join() === b.slice(0, -2).join() && a[r - 1] === b[r - 2];
    return ok ? undefined : `multiplies [${a.join(', ')}] by [${b.join(', ')}] (expects [..., M, K] and [..., K, P], the leading axes equal)`;
  },
  read: (r) => ({kind: 'matmul', name: r.name, inputs: r.valuePair('inputs')}),
  params: () => [],
  onnx: (n, g) => g.emit(n, 'MatMul', [g.value(n.inputs[0]), g.value(n.inputs[1])]),
  train(n, g) {
    const o = g.ops;
    const [a, b] = [g.value(n.inputs[0]), g.value(n.inputs[1])];
    o.op('MatMul', [a, b], {}, n.name);
    const swap = swapLast(g.shape(n.inputs[0]).length);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      if (g.needsGrad(n.inputs[0])) g.accumulate(a, o.op('MatMul', [gy, o.op('Transpose', [b], {perm: swap})]));
      if (g.needsGrad(n.inputs[1])) g.accumulate(b, o.op('MatMul', [o.op('Transpose', [a], {perm: swap}), gy]));
    });
  },
  fromOnnx: {
    // After dense, which maps MatMul by a constant weight.
    ops: ['MatMul'],
    map(o) {
      const a = o.computed(0);
      const b = o.computed(1);
      if (a === undefined || b === undefined) return '';
      const node: MatMulNode = {kind: 'matmul', name: o.layerName(), inputs: [a.name, b.name]};
      if (matmul.check(node, [a.shape, b.shape]) !== undefined) return 'MatMul of two computed values other than [..., M, K] · [..., K, P] with equal leading axes';
      o.emit(node, [a.shape, b.shape]);
      return undefined;
    },
  },
};
