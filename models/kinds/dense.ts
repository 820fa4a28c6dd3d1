import {quoted} from '../../src/core/shown';
import {MAX_WIDTH, type KindDef, type OnnxNode, type WeightLayer} from './kind';

/**
 * A fully connected layer (PyTorch's Linear): weight [out, in], optional bias. On features [F] it is a Gemm; on a
 * value of more axes per sample (tokens [T, C]) it applies to the last axis, as nn.Linear does and as torch writes it
 * (MatMul by the transposed weight, then the Add of the bias).
 */
export interface DenseNode extends WeightLayer {
  readonly kind: 'dense';
  readonly input: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
}

/**
 * An Add after the dense layer of a MatMul, when it adds that layer's bias (torch.nn.Linear on inputs of rank 3 and
 * more, which the export writes as MatMul + Add): joined to the layer.
 */
function matmulBias(o: OnnxNode<DenseNode>): string | undefined {
  // torch writes the bias first (Add(bias, MatMul)); either order is the same sum.
  const k = o.computed(0) !== undefined ? 0 : 1;
  const x = o.computed(k);
  const made = x !== undefined && o.computed(1 - k) === undefined ? o.made(k) : undefined;
  if (x === undefined || made?.op !== 'MatMul' || made.readers !== 1) return 'Add of a constant (other than a MatMul\'s bias)';
  const c = o.param(1 - k, 'bias');
  const dense = made.node;
  if (c.values.length !== dense.outFeatures) o.fail(`adds ${quoted(c.name)} of dims [${c.dims.join(', ')}] to ${dense.outFeatures} features`);
  made.replace({...dense, bias: true});
  o.tensor(`${dense.name}.bias`, [dense.outFeatures], c.values);
  o.pass(x);
  return undefined;
}

export const dense: KindDef<DenseNode> = {
  kind: 'dense',
  inputs: (n) => [n.input],
  shape: (n, [x]) => [...x.slice(0, -1), n.outFeatures],
  check: (n, [x]) => (x.length < 1 || x[x.length - 1] !== n.inFeatures ? `expects [${n.inFeatures}] features, its input is [${x.join(', ')}]` : undefined),
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
    // Every axis of a sample but the last is a row of the product (tokens [T, C]: T rows; features [F]: one).
    const rows = g.shape(n.input).slice(0, -1).reduce((a, b) => a * b, 1);
    if (g.packedDense(n, x, n.inFeatures, n.outFeatures, n.bias, rows)) return;
    const w = g.weight(n, n.outFeatures * n.inFeatures);
    if (g.shape(n.input).length > 1) {
      // Tokens: x·Wᵀ (+ b) on the last axis, as torch writes it (a Transpose of a constant, folded at load).
      const product = g.ops.op('MatMul', [x, g.ops.op('Transpose', [w], {perm: [1, 0]})]);
      if (n.bias) g.emit(n, 'Add', [product, g.param(`${n.name}.bias`)]);
      else g.emit(n, 'Identity', [product]);
      return;
    }
    g.emit(n, 'Gemm', n.bias ? [x, w, g.param(`${n.name}.bias`)] : [x, w], {transB: 1});
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const weight = g.param(`${n.name}.weight`, [n.outFeatures, n.inFeatures]);
    const bias = n.bias ? g.param(`${n.name}.bias`, [n.outFeatures]) : undefined;
    const tokens = g.shape(n.input).length > 1;
    if (tokens) {
      const product = o.op('MatMul', [x, o.op('Transpose', [weight], {perm: [1, 0]})], {}, bias ? undefined : n.name);
      if (bias) o.op('Add', [product, bias], {}, n.name);
    } else {
      o.op('Gemm', bias ? [x, weight, bias] : [x, weight], {transB: 1}, n.name);
    }
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      // On tokens, every position of every sample is one row of the product: [N·T, out] and [N·T, in].
      const rows = tokens ? o.op('Reshape', [gy, o.i64([-1, n.outFeatures])]) : gy;
      g.accumulate(weight, o.op('Gemm', [rows, tokens ? o.op('Reshape', [x, o.i64([-1, n.inFeatures])]) : x], {transA: 1}));
      if (bias) g.accumulate(bias, o.op('ReduceSum', [rows, o.i64([0])], {keepdims: 0}));
      if (g.needsGrad(n.input)) g.accumulate(x, o.op('MatMul', [gy, weight]));
    });
  },
  tfjs(n, k, [x]) {
    const y = k.dense(x, k.weight(n));
    return n.bias ? k.add(y, k.param(`${n.name}.bias`)) : y;
  },
  fromOnnx: {
    // Add: a MatMul's bias (matmulBias); an Add of two computed values is the add kind's, which comes first.
    ops: ['Gemm', 'MatMul', 'Add'],
    refuses: (node) => (node.op === 'Gemm' && node.int('transA', 0) !== 0 ? 'Gemm with transA' : undefined),
    map(o) {
      if (o.op === 'Add') return matmulBias(o);
      const x = o.input();
      const op = o.op;
      if (o.computed(1) !== undefined) return `${op} of two computed values`;
      // Gemm takes [N, features]; MatMul by a constant [in, out] applies to the last axis of any value (tokens).
      if (op === 'Gemm' && x.shape.length !== 1) return 'Gemm on a value with more than one dimension per image (cbp maps Gemm on [N, features])';
      const features = x.shape[x.shape.length - 1];
      const w = o.param(1, 'weight');
      const transB = op === 'Gemm' && o.int('transB', 0) === 1;
      if (w.dims.length !== 2 || w.dims[transB ? 1 : 0] !== features) {
        o.fail(`has weight ${quoted(w.name)} of dims [${w.dims.join(', ')}] for ${features} input features${transB ? ' (transB)' : ''}`);
      }
      const out = w.dims[transB ? 0 : 1];
      // PyTorch's layout [out, in]: Gemm with transB is already in it; otherwise transposed.
      const alpha = op === 'Gemm' ? o.float('alpha', 1) : 1;
      let data = w.values;
      if (!transB || alpha !== 1) {
        data = new Float32Array(out * features);
        for (let k = 0; k < out; k++) for (let f = 0; f < features; f++) data[k * features + f] = Math.fround(alpha * (transB ? w.values[k * features + f] : w.values[f * out + k]));
      }
      let bias: Float32Array | undefined;
      if (op === 'Gemm' && o.given(2)) {
        const c = o.param(2, 'bias');
        const n = c.values.length;
        if (n !== out && n !== 1) o.fail(`has bias ${quoted(c.name)} of dims [${c.dims.join(', ')}], expected [${out}]`);
        const beta = o.float('beta', 1);
        bias = Float32Array.from({length: out}, (_, k) => Math.fround(beta * c.values[n === 1 ? 0 : k]));
      }
      const name = o.layerName(o.stateName(1, 'weight'));
      o.tensor(`${name}.weight`, [out, features], data);
      if (bias) o.tensor(`${name}.bias`, [out], bias);
      o.emit({kind: 'dense', name, input: x.name, inFeatures: features, outFeatures: out, bias: bias !== undefined, constrained: false}, [x.shape]);
      return undefined;
    },
  },
};
