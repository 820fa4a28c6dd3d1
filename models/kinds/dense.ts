import {MAX_WIDTH, type KindDef, type WeightLayer} from './kind';

/** A fully connected layer (PyTorch's Linear): weight [out, in], optional bias. */
export interface DenseNode extends WeightLayer {
  readonly kind: 'dense';
  readonly input: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
}

export const dense: KindDef<DenseNode> = {
  kind: 'dense',
  inputs: (n) => [n.input],
  shape: (n) => [n.outFeatures],
  check: (n, [x]) => (x.length !== 1 || x[0] !== n.inFeatures ? `expects [${n.inFeatures}] features, its input is [${x.join(', ')}]` : undefined),
  read: (r) => ({
    kind: 'dense',
    name: r.name,
    input: r.value('input'),
    inFeatures: r.int('inFeatures', 1, MAX_WIDTH * 4096),
    outFeatures: r.int('outFeatures', 1, MAX_WIDTH),
    bias: r.flag('bias'),
    constrained: r.flag('constrained'),
  }),
  params: (n) => [
    {suffix: 'weight', role: 'weight', shape: [n.outFeatures, n.inFeatures], trainable: true},
    ...(n.bias ? [{suffix: 'bias', role: 'bias' as const, shape: [n.outFeatures], trainable: true}] : []),
  ],
  weight: (n) => n,
  onnx(n, g) {
    const x = g.value(n.input);
    if (g.packedDense(n, x, n.inFeatures, n.outFeatures, n.bias)) return;
    const inputs = [x, g.weight(n, n.outFeatures * n.inFeatures)];
    if (n.bias) inputs.push(g.param(`${n.name}.bias`));
    g.emit(n, 'Gemm', inputs, {transB: 1});
  },
  train(n, g) {
    const x = g.value(n.input);
    const weight = g.param(`${n.name}.weight`, [n.outFeatures, n.inFeatures]);
    const bias = n.bias ? g.param(`${n.name}.bias`, [n.outFeatures]) : undefined;
    g.ops.op('Gemm', bias ? [x, weight, bias] : [x, weight], {transB: 1}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      g.accumulate(weight, g.ops.op('Gemm', [gy, x], {transA: 1}));
      if (bias) g.accumulate(bias, g.ops.op('ReduceSum', [gy, g.ops.i64([0])], {keepdims: 0}));
      if (g.needsGrad(n.input)) g.accumulate(x, g.ops.op('MatMul', [gy, weight]));
    });
  },
  tfjs(n, k, [x]) {
    const y = k.dense(x, k.weight(n));
    return n.bias ? k.add(y, k.param(`${n.name}.bias`)) : y;
  },
};
