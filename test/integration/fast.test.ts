import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import {exportCheckpoint, FAST_TOLERANCE, type ExportResult} from '../../src/app/export';
import type {ModelInfo} from '../../src/app/info';
import {loadDataset, makeBatch} from '../../src/data/index';
import {Rng} from '../../src/core/rng';
import {initialWeights} from '../../src/train/init';
import {SpecBuilder} from '../../models/builder';
import {QUANTS, getModel} from '../../models/index';
import {MATMUL_NBITS, STORAGE, nbitsBlockSize, newerRuntime, packNBits, unpackNBits} from '../../onnx/codes';
import {CONSTRAINTS} from '../../src/cbp/registry';
import {decodeOnnx, metadataOf} from '../../onnx/reader';
import {DataType, type ModelMsg, type NodeMsg} from '../../onnx/schema';
import {writeOnnx} from '../../onnx/writer';
import {cbp, cbpJson} from '../cli';
import {untrainedRun} from '../untrained';
import {tempDir} from '../helpers';

/**
 * `--weights fast`: constrained dense layers as ONNX Runtime's MatMulNBits (4-bit codes, zero point 8, one scale per
 * block of K), everything else as `auto`. The reference is ONNX Runtime on the float export of the same weights,
 * each file opened as a deployer opens it (`InferenceSession.create`, no options).
 */
const tmp = tempDir('cbp-fast-');
const mnist = loadDataset('mnist');
const BATCH = 64;
const {x: images} = makeBatch(mnist, mnist.test, Array.from({length: BATCH}, (_, i) => i), 'NCHW');

async function stockLogits(bytes: Uint8Array, x: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const y = (await session.run({input: new ort.Tensor('float32', x, [...dims])})).logits.data;
    assert.ok(y instanceof Float32Array);
    return y;
  } finally {
    await session.release();
  }
}

/** Largest |a − reference| relative to the largest |reference| (at least 1), as the export's check measures it. */
function relativeDifference(a: Float32Array, reference: Float32Array): number {
  assert.equal(a.length, reference.length);
  let worst = 0;
  let largest = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - reference[i]));
    largest = Math.max(largest, Math.abs(reference[i]));
  }
  return worst / Math.max(1, largest);
}

const nodeOf = (model: ModelMsg, name: string): NodeMsg | undefined => model.graph.node.find((n) => n.name === name);
const attrs = (n: NodeMsg): Record<string, number | undefined> => Object.fromEntries(n.attribute.map((a) => [a.name, a.i]));

test('MatMulNBits blocks: two codes a byte along K, the first in the low nibble, code + 8; the padding past K is the zero point', () => {
  // N = 2, K = 3, block 16: each row one block of 8 bytes.
  const codes = Int8Array.of(-7, 0, 7, 1, -1, 4);
  const b = packNBits(codes, 2, 3, 16);
  assert.deepEqual([...b], [0x81, 0x8f, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x79, 0x8c, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88]);
  assert.deepEqual([...unpackNBits(b, 2, 3, 16)], [...codes]);
  assert.throws(() => packNBits(Int8Array.of(8), 1, 1, 16), /code 8 does not fit MatMulNBits's 4 bits/);
  assert.deepEqual([9216, 4096, 800, 1000, 100, 25].map(nbitsBlockSize), [128, 128, 64, 128, 128, 32]);
});

for (const quant of QUANTS) {
  test(`${quant}: --weights fast writes LeNet-5's fc1 as MatMulNBits and conv2 as auto does; logits within ${FAST_TOLERANCE} of the float export's in a stock session`, async () => {
    const run = untrainedRun(path.join(tmp, `lenet5-${quant}`), 'lenet5', quant, 'mnist');
    const exp = async (weights: 'fast' | 'auto' | 'float'): Promise<ExportResult> =>
      exportCheckpoint({checkpoint: run, format: 'onnx', out: path.join(tmp, `lenet5-${quant}-${weights}.onnx`), weights, verifyWith: 'float-onnx', verifyImages: 16});
    const fast = await exp('fast');
    const auto = await exp('auto');
    await exp('float');
    const bytes = (w: string): Uint8Array => fs.readFileSync(path.join(tmp, `lenet5-${quant}-${w}.onnx`));
    const model = decodeOnnx(bytes('fast'), 'fast');
    const autoModel = decodeOnnx(bytes('auto'), 'auto');

    // fc1 (800 → 500, constrained): one MatMulNBits, K = 800 in blocks of 64 (13 blocks, 32 padded), float32 math.
    const fc1 = nodeOf(model, 'fc1');
    assert.ok(fc1 !== undefined);
    assert.equal(fc1.op_type, 'MatMulNBits');
    assert.equal(fc1.domain, 'com.microsoft');
    assert.deepEqual(attrs(fc1), {K: 800, N: 500, bits: 4, block_size: 64, accuracy_level: 0});
    assert.deepEqual(fc1.input.slice(1), ['fc1.weight_nbits', 'fc1.weight_scales']);
    assert.deepEqual(model.graph.initializer.find((t) => t.name === 'fc1.weight_nbits')?.dims, [500, 13, 32]);
    assert.deepEqual(model.opset_import.map((o) => [o.domain ?? '', o.version]), [...autoModel.opset_import.map((o) => [o.domain ?? '', o.version]), ['com.microsoft', 1]]);
    // fc2 (float) stays a Gemm; conv2 (constrained) is stored exactly as the auto file stores it.
    assert.equal(nodeOf(model, 'fc2')?.op_type, 'Gemm');
    const conv2 = (m: ModelMsg): string[] => m.graph.initializer.filter((t) => t.name.startsWith('conv2.weight')).map((t) => `${t.name} ${t.data_type} ${Buffer.from(t.raw_data ?? []).toString('base64')}`);
    assert.deepEqual(conv2(model), conv2(autoModel));
    assert.deepEqual(fast.layers.map((l) => [l.layer, l.storage, l.bitsPerWeight]), [['conv1', 'float32', 32], ['conv2', CONSTRAINTS[quant].storage, STORAGE[CONSTRAINTS[quant].storage].bits], ['fc1', 'matmulnbits', 4], ['fc2', 'float32', 32]]);

    const dims = [BATCH, 1, 28, 28];
    const [yFast, yFloat, yAuto] = [await stockLogits(bytes('fast'), images, dims), await stockLogits(bytes('float'), images, dims), await stockLogits(bytes('auto'), images, dims)];
    const d = relativeDifference(yFast, yFloat);
    assert.ok(d <= FAST_TOLERANCE, `fast logits differ from the float export's by ${d} of the largest`);
    assert.ok(relativeDifference(yAuto, yFloat) <= FAST_TOLERANCE);

    // The card: the oldest runtime is the newer of auto's storage and MatMulNBits's 1.17.
    const expected = newerRuntime(auto.card.minOnnxRuntime, MATMUL_NBITS.onnxruntime);
    assert.equal(fast.card.minOnnxRuntime, expected);
    assert.equal(expected, {bin: '1.17', ter: '1.24', '1bit': '1.23', '2bit': '1.23', uni2: '1.23'}[quant]);
    const meta = metadataOf(model);
    assert.equal(meta['cbp.weights'], 'fast');
    assert.equal(meta['cbp.min_onnxruntime'], expected);

    // Size: fc1's 400,000 weights at 4 bits plus a float32 scale per block of 64 (4.5 bits, 32 codes padded a row)
    // instead of auto's bits; everything else as in the auto file.
    const autoBits = STORAGE[CONSTRAINTS[quant].storage].bits;
    const fc1Bytes = 500 * 13 * 32 + 500 * 13 * 4;
    const delta = fast.bytes - auto.bytes;
    assert.ok(Math.abs(delta - (fc1Bytes - (400_000 * autoBits) / 8)) < 2048, `fast ${fast.bytes} bytes, auto ${auto.bytes} bytes`);
  });
}

test('cbp export --weights fast checks against tfjs and the float export; cbp info shows the variant and the same codes as auto', () => {
  const run = path.join(tmp, 'lenet5-ter');
  const file = path.join(tmp, 'cli-ter-fast.onnx');
  const r = cbp(['export', '--checkpoint', run, '--out', file, '--weights', 'fast', '--backend', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /needs ONNX Runtime ≥ 1\.24/);
  assert.match(r.stdout, /fc1 +constrained +matmulnbits 400000 weights/);
  const info = cbpJson<ModelInfo>(['info', file]);
  assert.equal(info.card.weights, 'fast');
  assert.equal(info.card.minOnnxRuntime, '1.24');
  assert.deepEqual(info.layers.map((l) => [l.layer, l.constraint, l.bitsPerWeight]), [['conv1', 'none', 32], ['conv2', 'ter', 2], ['fc1', 'ter', 4], ['fc2', 'none', 32]]);
  const auto = cbpJson<ModelInfo>(['info', path.join(tmp, 'lenet5-ter-auto.onnx')]);
  assert.deepEqual(info.layers[2].counts, auto.layers[2].counts);
  assert.equal(info.layers[2].counts.reduce((a, b) => a + b, 0), 400_000);
  assert.equal(info.parameters, auto.parameters);
  const text = cbp(['info', file]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /runtime +ONNX Runtime ≥ 1\.24 \(--weights fast\)/);
});

test('onnxruntime-web\'s WebAssembly build runs MatMulNBits: the fast LeNet-5 gives the float export\'s logits', async () => {
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(fs.readFileSync(path.join(tmp, 'lenet5-ter-fast.onnx')));
  let y: unknown;
  try {
    y = (await session.run({input: new ortWeb.Tensor('float32', images, [BATCH, 1, 28, 28])})).logits.data;
  } finally {
    await session.release();
  }
  assert.ok(y instanceof Float32Array);
  const d = relativeDifference(y, await stockLogits(fs.readFileSync(path.join(tmp, 'lenet5-ter-float.onnx')), images, [BATCH, 1, 28, 28]));
  assert.ok(d <= FAST_TOLERANCE, `wasm fast logits differ from the float export's by ${d} of the largest`);
});

test('ResNet-20 has no constrained dense layer: --weights fast writes the auto graph', () => {
  const spec = getModel('resnet20', 10, [1, 28, 28]);
  const weights = initialWeights(spec, 'ter', 1);
  const fast = writeOnnx(spec, 'ter', weights, 'fast', {});
  const auto = writeOnnx(spec, 'ter', weights, 'auto', {});
  assert.deepEqual(fast.layers, auto.layers);
  assert.equal(fast.onnxruntime, auto.onnxruntime);
  const graph = (b: Uint8Array): string => JSON.stringify(decodeOnnx(b, 'x').graph);
  assert.equal(graph(fast.bytes), graph(auto.bytes));
  assert.deepEqual(decodeOnnx(fast.bytes, 'fast').opset_import, decodeOnnx(auto.bytes, 'auto').opset_import);
});

/**
 * Dense layers whose K is no multiple of the block (100 in one padded block of 128, 40 in one of 64, 25 in one of
 * 32), two with biases, every constraint: the padded codes weigh nothing and the Add after MatMulNBits adds the bias.
 */
for (const quant of QUANTS) {
  test(`${quant}: K not a multiple of the block size, with and without a bias, gives the float export's logits`, async () => {
    const b = new SpecBuilder('padded', [1, 10, 10]);
    b.flatten('flatten');
    b.dense('fc1', 100, 40, {bias: true, constrained: true});
    b.relu('relu1');
    b.dense('fc2', 40, 25, {constrained: true});
    b.relu('relu2');
    b.dense('fc3', 25, 30, {bias: true, constrained: true});
    b.relu('relu3');
    b.dense('fc4', 30, 10, {bias: true, constrained: false});
    const spec = b.build(10);
    const weights = initialWeights(spec, quant, 7);
    const rng = new Rng(11);
    for (const key of ['fc1.bias', 'fc3.bias']) {
      const t = weights.get(key);
      assert.ok(t !== undefined, key);
      weights.set(key, {shape: t.shape, data: Float32Array.from(t.data, () => rng.normal() * 0.5)});
    }
    const fast = writeOnnx(spec, quant, weights, 'fast', {});
    const float = writeOnnx(spec, quant, weights, 'float', {});
    const model = decodeOnnx(fast.bytes, 'fast');
    const mm = model.graph.node.filter((n) => n.op_type === 'MatMulNBits').map((n) => [attrs(n).K, attrs(n).block_size]);
    assert.deepEqual(mm, [[100, 128], [40, 64], [25, 32]]);
    assert.deepEqual(model.graph.node.filter((n) => n.op_type === 'Add').map((n) => n.input.join(' + ')), ['fc1_product + fc1.bias', 'fc3_product + fc3.bias']);
    const n = 16;
    const x = Float32Array.from({length: n * 100}, () => rng.normal());
    const yFast = await stockLogits(fast.bytes, x, [n, 1, 10, 10]);
    const yFloat = await stockLogits(float.bytes, x, [n, 1, 10, 10]);
    assert.ok(yFloat.some((v) => Math.abs(v) > 1e-3), 'the float logits are not all zero');
    const d = relativeDifference(yFast, yFloat);
    assert.ok(d <= FAST_TOLERANCE, `fast logits differ from the float export's by ${d} of the largest`);
    // The padding of fc1's one block: codes 100..127 of every row hold the zero point.
    const blob = model.graph.initializer.find((t) => t.name === 'fc1.weight_nbits');
    assert.deepEqual(blob?.dims, [40, 1, 64]);
    const raw = blob?.raw_data ?? new Uint8Array(0);
    for (let row = 0; row < 40; row++) assert.ok(raw.subarray(row * 64 + 50, row * 64 + 64).every((v) => v === 0x88), `row ${row} padding`);
    assert.equal(DataType.UINT8, blob?.data_type);
  });
}
