import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {initialWeights} from '../../src/train/init';
import {QUANTS, getModel} from '../../models/index';
import {codesFit} from '../../src/cbp/codes';
import {decodeOnnx} from '../../onnx/reader';
import {DataType} from '../../onnx/schema';
import {WEIGHT_FORMATS, writeOnnx} from '../../onnx/writer';
import {tempDir} from '../helpers';

/**
 * A deployer opens an exported file with `ort.InferenceSession.create(path)` and no options. ONNX Runtime then keeps
 * DequantizeLinear on constant weights out of constant folding (for its QDQ fusions), so a file restoring its weights
 * that way dequantizes on every run. Here ONNX Runtime saves the graph it actually runs (optimizedModelFilePath, every
 * other option at its default; logSeverityLevel only hushes its warning that the saved graph holds NCHWc nodes) and
 * the test reads it back: every weight of a Conv/Gemm/MatMul must be a float initializer, and no node may be left
 * computing from constants alone (a Cast or Mul of the codes, a DequantizeLinear), for every --weights variant. The
 * one product allowed packed weights is `--weights fast`'s MatMulNBits, which computes from its UINT8 blocks by design.
 */
const tmp = tempDir('cbp-stock-');
const spec = getModel('lenet5', 10, [1, 28, 28]);
const PRODUCTS = /^(Conv|Gemm|MatMul|FusedConv|FusedGemm|FusedMatMul|MatMulNBits)$/;

for (const quant of QUANTS) {
  const weights = initialWeights(spec, quant, 1);
  for (const format of WEIGHT_FORMATS) {
    if (format === 'int2' && !codesFit(quant, 2)) continue;
    test(`${quant}, --weights ${format}: a default ONNX Runtime session folds the weights at load, leaving no per-run dequantization`, async () => {
      const written = writeOnnx(spec, quant, weights, format, {});
      const optimized = path.join(tmp, `${quant}-${format}.optimized.onnx`);
      const session = await ort.InferenceSession.create(written.bytes, {optimizedModelFilePath: optimized, logSeverityLevel: 3});
      await session.release();
      const model = decodeOnnx(fs.readFileSync(optimized), optimized);
      const inits = new Map(model.graph.initializer.map((t) => [t.name, t]));
      const constantOnly = model.graph.node.filter((n) => n.input.some((i) => i !== '') && n.input.every((i) => i === '' || inits.has(i)));
      assert.deepEqual(constantOnly.map((n) => `${n.op_type} ${n.name}(${n.input.join(', ')})`), [], 'nodes left computing from constants on every run');
      assert.deepEqual(model.graph.node.filter((n) => n.op_type === 'DequantizeLinear').map((n) => n.name), []);
      const products = model.graph.node.filter((n) => PRODUCTS.test(n.op_type));
      assert.ok(products.length >= 4, `${products.length} Conv/Gemm nodes in the optimised LeNet-5`);
      for (const n of products) {
        const w = inits.get(n.input[1]);
        assert.ok(w !== undefined, `${n.op_type} ${n.name}: weight '${n.input[1]}' is computed on every run, not a constant`);
        const type = n.op_type === 'MatMulNBits' ? DataType.UINT8 : DataType.FLOAT;
        assert.equal(w.data_type, type, `${n.op_type} ${n.name}: weight '${w.name}' is of ONNX type ${w.data_type}, not ${type}`);
      }
      // fast: the constrained dense layer (fc1) runs as MatMulNBits, the rest as the auto file's.
      assert.equal(products.filter((n) => n.op_type === 'MatMulNBits').length, format === 'fast' ? 1 : 0);
    });
  }
}
