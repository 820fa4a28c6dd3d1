import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {inspectOnnxBytes} from '../../src/app/info';
import {initialWeights} from '../../src/train/init';
import {getModel} from '../../models/index';
import {decodeOnnx} from '../../onnx/reader';
import {ModelProto, type ModelMsg, type NodeMsg} from '../../onnx/schema';
import {writeOnnx} from '../../onnx/writer';

/** The same model with each `Mul(Cast(codes), step)` pair replaced by `DequantizeLinear(codes, step)`, as older cbp wrote it. */
function withDequantizeLinear(model: ModelMsg): Uint8Array {
  const nodes: NodeMsg[] = [];
  for (const n of model.graph.node) {
    if (n.op_type === 'Cast' && n.input[0].endsWith('_codes')) continue;
    if (n.op_type === 'Mul' && n.input[0].endsWith('_codesf')) {
      nodes.push({name: `${n.output[0]}_dequantize`, op_type: 'DequantizeLinear', input: [n.input[0].replace(/f$/, ''), n.input[1]], output: [n.output[0]], attribute: []});
      continue;
    }
    nodes.push(n);
  }
  return ModelProto.encode(ModelProto.fromObject({...model, graph: {...model.graph, node: nodes}})).finish();
}

for (const [quant, format] of [['ter', 'auto'], ['2bit', 'auto'], ['1bit', 'int8']] as const) {
  test(`cbp info reads ${quant} --weights ${format} codes behind Cast and Mul, and behind DequantizeLinear as older files have them`, () => {
    const spec = getModel('lenet5', 10, [1, 28, 28]);
    const written = writeOnnx(spec, quant, initialWeights(spec, quant, 2), format, {'cbp.constraint': quant});
    const model = decodeOnnx(written.bytes, 'new.onnx');
    assert.equal(model.graph.node.filter((n) => n.op_type === 'DequantizeLinear').length, 0);
    const now = inspectOnnxBytes(written.bytes, 'new.onnx');
    const older = withDequantizeLinear(model);
    assert.equal(decodeOnnx(older, 'old.onnx').graph.node.filter((n) => n.op_type === 'DequantizeLinear').length, 2);
    const before = inspectOnnxBytes(older, 'old.onnx');
    const constrained = now.layers.filter((l) => l.constraint === quant);
    assert.deepEqual(constrained.map((l) => l.layer), ['conv2', 'fc1']);
    assert.ok(constrained.every((l) => l.counts.reduce((a, b) => a + b, 0) === l.weights), 'every code is one of the levels');
    assert.deepEqual(before.layers, now.layers);
    assert.equal(before.parameters, now.parameters);
  });
}
