import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import type {ExportResult} from '../../src/app/export';
import type {ModelInfo} from '../../src/app/info';
import {loadDataset, makeBatch} from '../../src/data/index';
import {decodeOnnx, metadataOf} from '../../onnx/reader';
import type {ModelMsg} from '../../onnx/schema';
import {cbp, cbpJson, errorText} from '../cli';
import {untrainedRun} from '../untrained';
import {ROOT, tempDir} from '../helpers';
import {makePhotos} from '../../bench/photos';

/**
 * `cbp export --activations int8`: the file a deployer opens with no session options must run its convolution and
 * dense layers on ONNX Runtime's integer kernels (read from the graph ONNX Runtime saves after optimising it), keep
 * the top-1 of the float-activation file, and say so in its card.
 */
const tmp = tempDir('cbp-int8-');

/** ONNX Runtime's optimised graph of a file under default options (only the saved-graph path set). */
async function optimised(file: string): Promise<ModelMsg> {
  const out = `${file}.optimised.onnx`;
  const session = await ort.InferenceSession.create(file, {optimizedModelFilePath: out, logSeverityLevel: 3});
  await session.release();
  return decodeOnnx(fs.readFileSync(out), out);
}

const FLOAT_PRODUCTS = /^(Conv|FusedConv|Gemm|FusedGemm|MatMul|FusedMatMul)$/;
const count = (m: ModelMsg, op: RegExp): number => m.graph.node.filter((n) => op.test(n.op_type)).length;

test('a LeNet-5 trained on MNIST, exported --activations int8: integer kernels in a stock session, the float file\'s top-1, a card that says so', async () => {
  const run = path.join(tmp, 'lenet5-ter');
  const t = cbp(['train', '--model', 'lenet5', '--quant', 'ter', '--data', 'mnist', '--epochs', '1', '--limit', '4096', '--test-limit', '500', '--batch-size', '64', '--lr', '0.01', '--out', run, '--no-plot']);
  assert.equal(t.status, 0, t.stderr);
  const file = path.join(tmp, 'lenet5-ter-int8.onnx');
  const r = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', file, '--activations', 'int8']);
  assert.equal(r.activations, 'int8');
  const c = r.int8?.check;
  assert.ok(c !== undefined && c.floatTop1 !== null && c.int8Top1 !== null);
  assert.equal(c.images, 10000);
  assert.ok(c.floatTop1 > 0.8, `float-activation top-1 ${c.floatTop1}: the run did not train`);
  assert.ok(Math.abs(c.int8Top1 - c.floatTop1) <= 0.01, `int8 top-1 ${c.int8Top1} against ${c.floatTop1}`);
  assert.ok(c.agreement >= 0.97, `top-1 agrees on ${c.agreement}`);
  assert.deepEqual(r.int8?.integerLayers, ['conv1', 'conv2', 'fc1', 'fc2']);
  // --weights auto: the ternary codes stored as INT2 (cast to INT8 when ONNX Runtime loads the file), the float
  // layers rounded to INT8.
  assert.deepEqual(r.layers.map((l) => [l.layer, l.storage, l.bitsPerWeight]), [['conv1', 'int8', 8], ['conv2', 'int2', 2], ['fc1', 'int2', 2], ['fc2', 'int8', 8]]);
  assert.equal(r.card.minOnnxRuntime, '1.24');
  assert.equal(r.opset, 25);

  // Every product runs on integers: QLinearConv and QGemm, no float Conv/Gemm/MatMul left.
  const opt = await optimised(file);
  assert.equal(count(opt, FLOAT_PRODUCTS), 0, opt.graph.node.filter((n) => FLOAT_PRODUCTS.test(n.op_type)).map((n) => `${n.op_type} ${n.name}`).join(', '));
  assert.equal(count(opt, /^QLinearConv$/), 2);
  assert.equal(count(opt, /^(QGemm|QLinearMatMul|MatMulIntegerToFloat)$/), 2);
  // --weights int8 stores the same codes as INT8 (opset 13, ONNX Runtime ≥ 1.10): the same graph once loaded, the same logits.
  const plain = path.join(tmp, 'lenet5-ter-int8-codes.onnx');
  const p = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', plain, '--activations', 'int8', '--weights', 'int8']);
  assert.deepEqual([p.opset, p.card.minOnnxRuntime], [13, '1.10']);
  assert.ok(p.bytes > r.bytes * 2, `INT8 codes ${p.bytes} bytes, INT2 ${r.bytes}`);
  assert.deepEqual(p.int8?.check, c);

  // The card, as data and as the info command shows it.
  const meta = metadataOf(decodeOnnx(fs.readFileSync(file), file));
  assert.equal(meta['cbp.activations'], 'int8');
  assert.deepEqual(JSON.parse(meta['cbp.calibration']), {method: 'minmax', images: 256, data: 'mnist', folded_batch_norms: 2, float_layers: []});
  assert.equal(JSON.parse(meta['cbp.int8_check']).int8_top1, c.int8Top1);
  const info = cbpJson<ModelInfo>(['info', file]);
  assert.deepEqual(info.layers.map((l) => [l.layer, l.constraint, l.activations, l.bitsPerWeight]), [['conv1', 'none', 'int8', 8], ['conv2', 'ter', 'int8', 2], ['fc1', 'ter', 'int8', 2], ['fc2', 'none', 'int8', 8]]);
  // conv1 reads the input padded from 1 to 4 channels; its weights for the padding are not counted.
  assert.equal(info.layers[0].weights, 500);
  // The constrained layers' codes are the ternary levels themselves.
  assert.equal(info.layers[2].counts.reduce((a, b) => a + b, 0), 400_000);
  assert.equal(info.card.activations?.type, 'int8');
  const text = cbp(['info', file]);
  assert.match(text.stdout, /activations +int8 \(uint8\), calibrated by minmax on 256 images of mnist; test top-1/);

  // cbp eval reads the file like any other and finds the top-1 the export measured.
  const ev = cbpJson<{top1: number; images: number}>(['eval', '--onnx', file, '--data', 'mnist']);
  assert.equal(ev.images, 10000);
  assert.equal(ev.top1, c.int8Top1);

  // onnxruntime-web's WebAssembly build runs the same integer graph to the same logits' top-1.
  const ds = loadDataset('mnist');
  const n = 256;
  const {x} = makeBatch(ds, ds.test, Array.from({length: n}, (_, i) => i), 'NCHW');
  const node = await ort.InferenceSession.create(file);
  const yNode = (await node.run({input: new ort.Tensor('float32', x, [n, 1, 28, 28])})).logits.data;
  await node.release();
  ortWeb.env.wasm.numThreads = 1;
  const web = await ortWeb.InferenceSession.create(fs.readFileSync(file));
  const yWeb = (await web.run({input: new ortWeb.Tensor('float32', x, [n, 1, 28, 28])})).logits.data;
  await web.release();
  assert.ok(yNode instanceof Float32Array && yWeb instanceof Float32Array);
  const top = (y: Float32Array, i: number): number => {
    let b = 0;
    for (let k = 1; k < 10; k++) if (y[i * 10 + k] > y[i * 10 + b]) b = k;
    return b;
  };
  const same = Array.from({length: n}, (_, i) => top(yNode, i) === top(yWeb, i)).filter(Boolean).length;
  assert.ok(same >= n - 2, `onnxruntime-web agrees with onnxruntime-node on ${same} of ${n} images`);
});

test('ResNet-20 (batch norms, residual adds) --activations int8: the batch norms fold away and every convolution is a QLinearConv; --keep-float keeps the named layers in float', async () => {
  const run = untrainedRun(path.join(tmp, 'resnet20'), 'resnet20', 'bin', 'fashion-mnist');
  const file = path.join(tmp, 'resnet20-int8.onnx');
  const r = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', file, '--activations', 'int8', '--calibration', 'percentile', '--calibration-images', '64']);
  assert.equal(r.int8?.foldedBatchNorms, 21);
  assert.equal(r.int8?.method, 'percentile');
  // Binary codes one bit each, unpacked to INT8 by constant operators ONNX Runtime folds at load.
  assert.deepEqual([...new Set(r.layers.filter((l) => l.constrained).map((l) => `${l.storage} ${l.bitsPerWeight}`))], ['bit1 1']);
  assert.equal(r.int8?.images, 64);
  const written = decodeOnnx(fs.readFileSync(file), file);
  assert.equal(count(written, /^BatchNormalization$/), 0);
  const convs = count(written, /^Conv$/);
  assert.equal(convs, 21);
  const opt = await optimised(file);
  assert.equal(count(opt, FLOAT_PRODUCTS), 0);
  assert.equal(count(opt, /^QLinearConv$/), convs);
  assert.equal(count(opt, /^QLinearAdd$/), 9);

  const kept = path.join(tmp, 'resnet20-keep.onnx');
  const k = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', kept, '--activations', 'int8', '--keep-float', 'conv1', '--keep-float', 'f?']);
  assert.deepEqual(k.int8?.floatLayers, ['conv1', 'fc']);
  const info = cbpJson<ModelInfo>(['info', kept]);
  assert.deepEqual(info.layers.filter((l) => l.activations === 'float').map((l) => [l.layer, l.bitsPerWeight]), [['conv1', 32], ['fc', 32]]);
  const optKept = await optimised(kept);
  assert.equal(count(optKept, FLOAT_PRODUCTS), 2, 'conv1 and fc in float, nothing else');
  assert.equal(count(optKept, /^QLinearConv$/), convs - 1);
});

test('an imported model with squeeze-excite blocks, calibrated on a photo folder (--calibrate): every convolution on integers, the check on the folder\'s val/', async () => {
  const classes = Array.from({length: 10}, (_, i) => `c${i}`);
  const photos = path.join(tmp, 'photos');
  await makePhotos(path.join(photos, 'train'), classes, 30);
  await makePhotos(path.join(photos, 'val'), classes, 20, 7);
  const run = path.join(tmp, 'mobile-se');
  const imported = cbp(['import', path.join(ROOT, 'test/fixtures/onnx/mobile_se.onnx'), '--out', run, '--quant', 'ter']);
  assert.equal(imported.status, 0, imported.stderr);
  const file = path.join(tmp, 'mobile-se-int8.onnx');
  // The import recorded no training data: calibration images must be named.
  const missing = cbp(['export', '--checkpoint', run, '--out', file, '--activations', 'int8']);
  assert.notEqual(missing.status, 0);
  assert.match(errorText(missing.stderr), /--activations int8 needs calibration images and the run records no training data: give --calibrate DATA .* Code: MISSING_FLAG/);
  const r = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', file, '--activations', 'int8', '--calibrate', photos]);
  assert.equal(r.int8?.data, photos);
  assert.equal(r.int8?.images, 30);
  assert.equal(r.int8?.check.images, 20);
  assert.equal(r.int8?.check.data, path.join(photos, 'val'));
  const opt = await optimised(file);
  assert.equal(count(opt, FLOAT_PRODUCTS), 0);
  assert.equal(count(opt, /^QLinearConv$/), count(decodeOnnx(fs.readFileSync(file), file), /^Conv$/));
});

test('--activations int8 refuses what it cannot do, naming the flag', () => {
  const run = untrainedRun(path.join(tmp, 'lenet5-bin'), 'lenet5', 'bin', 'mnist');
  const out = path.join(tmp, 'refused.onnx');
  const refused = (args: string[], code: string, message: RegExp): void => {
    const r = cbp(['export', '--checkpoint', run, '--out', out, ...args]);
    assert.notEqual(r.status, 0, r.stderr);
    const text = errorText(r.stderr);
    assert.match(text, message);
    assert.match(text, new RegExp(`Code: ${code}`));
    assert.ok(!fs.existsSync(out), 'nothing written');
  };
  refused(['--activations', 'int8', '--weights', 'fast'], 'FLAG_CONFLICT', /--weights fast with --activations int8: .* use --weights auto or int8/);
  refused(['--calibrate', 'mnist'], 'FLAG_CONFLICT', /--calibrate applies to --activations int8 only/);
  refused(['--activations', 'int8', '--keep-float', 'nothing*'], 'BAD_FLAG', /--keep-float nothing\*: matches no convolution or dense layer; they are conv1, conv2, fc1, fc2/);
  refused(['--activations', 'int8', '--keep-float', '*'], 'BAD_FLAG', /keeps every layer in float/);
  refused(['--activations', 'int8', '--calibration', 'entropy'], 'UNKNOWN_CHOICE', /--calibration/);
  refused(['--activations', 'int8', '--calibrate', path.join(ROOT, 'no-such-folder')], 'BAD_FOLDER', /--calibrate/);
});
