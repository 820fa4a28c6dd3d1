import {ModelProto} from '../../onnx/schema';

const vi = (name: string, elem: number, dims: (number | string)[]): object => ({
  name,
  type: {tensor_type: {elem_type: elem, shape: {dim: dims.map((d) => (typeof d === 'string' ? {dim_param: d} : {dim_value: d}))}}},
});

/** A linear MNIST classifier with `classes` outputs whose weights are all `weight` (NaN makes every logit NaN). */
export function linearModel(classes: number, weight: number): Uint8Array {
  const w = new Float32Array(784 * classes).fill(weight);
  const graph = {
    name: 'linear',
    node: [
      {op_type: 'Flatten', input: ['input'], output: ['f']},
      {op_type: 'Gemm', input: ['f', 'W'], output: ['logits']},
    ],
    initializer: [{name: 'W', dims: [784, classes], data_type: 1, raw_data: new Uint8Array(w.buffer)}],
    input: [vi('input', 1, ['N', 1, 28, 28])],
    output: [vi('logits', 1, ['N', classes])],
  };
  return ModelProto.encode(ModelProto.fromObject({ir_version: 8, opset_import: [{domain: '', version: 13}], graph})).finish();
}

/** A model whose Loop has no trip count and a condition that stays true: it never returns. */
export function endlessModel(): Uint8Array {
  const body = {
    name: 'body',
    node: [
      {op_type: 'Identity', input: ['c_in'], output: ['c_out']},
      {op_type: 'Identity', input: ['v_in'], output: ['v_out']},
    ],
    input: [vi('i', 7, []), vi('c_in', 9, []), vi('v_in', 1, ['N', 1, 28, 28])],
    output: [vi('c_out', 9, []), vi('v_out', 1, ['N', 1, 28, 28])],
  };
  const graph = {
    name: 'endless',
    node: [
      {op_type: 'Loop', input: ['', 'cond', 'input'], output: ['v'], attribute: [{name: 'body', type: 5, g: body}]},
      {op_type: 'Flatten', input: ['v'], output: ['f']},
      {op_type: 'Gemm', input: ['f', 'W'], output: ['logits']},
    ],
    initializer: [
      {name: 'cond', dims: [], data_type: 9, raw_data: Uint8Array.of(1)},
      {name: 'W', dims: [784, 10], data_type: 1, raw_data: new Uint8Array(784 * 40)},
    ],
    input: [vi('input', 1, ['N', 1, 28, 28])],
    output: [vi('logits', 1, ['N', 10])],
  };
  return ModelProto.encode(ModelProto.fromObject({ir_version: 8, opset_import: [{domain: '', version: 13}], graph})).finish();
}
