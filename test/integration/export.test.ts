import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import {tf} from '../../src/train/tfjs/tf';
import {loadDataset, makeBatch} from '../../src/data/index';
import {evaluateOnnx} from '../../src/eval/evaluate';
import {countHits} from '../../src/core/topk';
import type {ExportResult} from '../../src/app/export';
import type {ModelInfo} from '../../src/app/info';
import {readCheckpoint, modelWeights} from '../../src/run/checkpoint';
import {decodeSafetensors, encodeSafetensors} from '../../src/run/safetensors';
import {Network} from '../../src/train/tfjs/network';
import type {TrainResult} from '../../src/train/trainer';
import {getModel, QUANTS} from '../../models/index';
import {readOnnx} from '../../onnx/reader';
import {DataType} from '../../onnx/schema';
import {cbp, cbpJson, errorText} from '../cli';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-export-');
const floatRun = path.join(tmp, 'float');
const mnist = loadDataset('mnist');
const base = ['--model', 'lenet5', '--data', 'mnist', '--batch-size', '64', '--backend', 'wasm'];

/** tfjs's top-1 class of every MNIST test image with the checkpoint's quantized weights. */
async function tfjsPredictions(run: string): Promise<Int32Array> {
  await tf.setBackend('wasm');
  const ck = readCheckpoint(run);
  const net = new Network(getModel('lenet5', 10, [1, 28, 28]), ck.state.config.quant, modelWeights(ck.tensors));
  const out = new Int32Array(mnist.test.count);
  for (let start = 0; start < mnist.test.count; start += 1000) {
    const idx = Array.from({length: 1000}, (_, i) => start + i);
    const {x, y} = makeBatch(mnist, mnist.test, idx, 'NHWC');
    const logits = tf.tidy(() => net.forward(tf.tensor4d(x, [1000, 28, 28, 1]), false).dataSync() as Float32Array);
    out.set(countHits(logits, y, 10).predictions, start);
  }
  net.dispose();
  return out;
}

test('float LeNet-5 for the export tests', () => {
  cbpJson<TrainResult>(['train', ...base, '--quant', 'none', '--limit', '4096', '--epochs', '2', '--lr', '0.05', '--out', floatRun]);
  const r = cbpJson<ExportResult>(['export', '--format', 'onnx', '--checkpoint', floatRun, '--out', path.join(tmp, 'float.onnx')]);
  assert.ok(r.layers.every((l) => l.storage === 'float32'));
});

for (const quant of QUANTS) {
  test(`${quant}: the exported ONNX model predicts as tfjs does on the 10,000 MNIST test images, in two runtimes`, async () => {
    const run = path.join(tmp, quant);
    const trained = cbpJson<TrainResult>(['train', ...base, '--quant', quant, '--limit', '2048', '--epochs', '1', '--init', floatRun, '--out', run]);
    const file = path.join(tmp, `${quant}.onnx`);
    const exp = cbpJson<ExportResult>(['export', '--format', 'onnx', '--checkpoint', run, '--out', file]);
    assert.ok(exp.maxDifference <= 1e-3 * Math.max(1, exp.maxLogit));
    // Stored as the narrowest integer type the constraint allows.
    const {model} = readOnnx(file);
    const suffix = quant === 'bin' ? '_bits' : '_codes';
    const codes = model.graph.initializer.filter((t) => t.name.endsWith(suffix));
    assert.deepEqual(codes.map((t) => t.name), [`conv2.weight${suffix}`, `fc1.weight${suffix}`]);
    // Binary: one bit per weight, unpacked in-graph; ternary INT2; the shift constraints INT4.
    const expectedType = quant === 'bin' ? DataType.UINT8 : quant === 'ter' ? DataType.INT2 : DataType.INT4; // uni2's codes ±1, ±3 need INT4 too
    assert.ok(codes.every((t) => t.data_type === expectedType));
    if (quant === 'bin') assert.equal(codes[1].raw_data?.length, 400000 / 8);

    const ort = await evaluateOnnx({onnx: file, data: 'mnist', device: 'cpu', batchSize: 500, keepPredictions: true});
    const mine = await tfjsPredictions(run);
    const ortPred = ort.predictions ?? [];
    let agree = 0;
    for (let i = 0; i < mine.length; i++) if (mine[i] === ortPred[i]) agree++;
    assert.ok(agree / mine.length >= 0.999, `${agree} of ${mine.length} predictions agree`);
    assert.ok(Math.abs(ort.top1 - trained.top1) <= 0.0005, `ORT top-1 ${ort.top1}, tfjs ${trained.top1}`);

    // A second, independent runtime: onnxruntime-web's WebAssembly build, in Node.
    ortWeb.env.wasm.numThreads = 1;
    const session = await ortWeb.InferenceSession.create(fs.readFileSync(file));
    const idx = Array.from({length: 1000}, (_, i) => i);
    const {x, y} = makeBatch(mnist, mnist.test, idx, 'NCHW');
    const res = await session.run({input: new ortWeb.Tensor('float32', x, [1000, 1, 28, 28])});
    const webPred = countHits(res.logits.data as Float32Array, y, 10).predictions;
    let same = 0;
    for (let i = 0; i < 1000; i++) if (webPred[i] === ortPred[i]) same++;
    assert.ok(same >= 999, `onnxruntime-web agrees on ${same} of 1000`);
    await session.release();
  });
}

test('binary LeNet-5 as ONNX is at most 1/8 of the float export; int2, int8 and float fallbacks load too', () => {
  const binSize = fs.statSync(path.join(tmp, 'bin.onnx')).size;
  const floatSize = fs.statSync(path.join(tmp, 'float.onnx')).size;
  assert.ok(binSize * 8 <= floatSize, `bin ${binSize} bytes, float ${floatSize} bytes`);
  assert.ok(binSize * 16 <= floatSize, `bin ${binSize} bytes at one bit per weight, float ${floatSize} bytes`);
  const int2 = cbpJson<ExportResult>(['export', '--checkpoint', path.join(tmp, 'bin'), '--out', path.join(tmp, 'bin2.onnx'), '--weights', 'int2']);
  assert.equal(int2.opset, 25);
  assert.ok(int2.layers.filter((l) => l.constrained).every((l) => l.storage === 'int2'));
  const int8 = cbpJson<ExportResult>(['export', '--checkpoint', path.join(tmp, 'bin'), '--out', path.join(tmp, 'bin8.onnx'), '--weights', 'int8']);
  assert.equal(int8.opset, 13);
  assert.ok(int8.layers.filter((l) => l.constrained).every((l) => l.storage === 'int8'));
  const fl = cbpJson<ExportResult>(['export', '--checkpoint', path.join(tmp, 'bin'), '--out', path.join(tmp, 'binf.onnx'), '--weights', 'float']);
  assert.ok(fl.maxDifference <= 1e-3 * Math.max(1, fl.maxLogit));
});

// A latent weight exactly on a midpoint has no code (the reference quantizes it halfway between two levels): the
// export stores it one level up and says so. The file must still verify — against the weights as stored — and be
// written, not refused (a real 15-epoch run ended with one such weight).
test('a checkpoint with latent weights exactly on a midpoint exports with a warning, verified against the weights as stored', () => {
  const dir = path.join(tmp, 'ter-midpoints');
  fs.cpSync(path.join(tmp, 'ter'), dir, {recursive: true});
  const file = path.join(dir, 'weights.safetensors');
  const {tensors, metadata} = decodeSafetensors(fs.readFileSync(file), file);
  const scale = tensors.get('fc1.scale')?.data[0];
  const w = tensors.get('fc1.weight');
  if (scale === undefined || w === undefined) throw new Error('no fc1 in the ternary checkpoint');
  // 3,000 weights on the two midpoints ±s/2 (float32, as the quantizer compares them), spread over the layer.
  const mid = Math.fround(0.5 * scale);
  for (let i = 0; i < 3000; i++) w.data[i * 131] = i % 2 === 0 ? mid : -mid;
  fs.writeFileSync(file, encodeSafetensors(tensors, metadata));
  const r = cbp(['export', '--checkpoint', dir, '--out', path.join(tmp, 'ter-midpoints.onnx'), '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: 3000 latent weights lie exactly on a midpoint; they are stored at the level above/);
  const exp = JSON.parse(r.stdout) as ExportResult;
  assert.ok(exp.maxDifference <= 1e-3 * Math.max(1, exp.maxLogit), `logits differ by ${exp.maxDifference}`);
  assert.ok(fs.existsSync(path.join(tmp, 'ter-midpoints.onnx')));
});

test('cbp info reports per-layer levels and the compression of the file', () => {
  const info = cbpJson<ModelInfo>(['info', path.join(tmp, 'ter.onnx')]);
  assert.equal(info.constraint, 'ter');
  assert.deepEqual(info.layers.map((l) => [l.layer, l.constraint, l.bitsPerWeight]), [['conv1', 'none', 32], ['conv2', 'ter', 2], ['fc1', 'ter', 2], ['fc2', 'none', 32]]);
  const fc1 = info.layers[2];
  assert.equal(fc1.counts.reduce((a, b) => a + b, 0), 400000);
  assert.equal(info.bytesOnDisk, fs.statSync(path.join(tmp, 'ter.onnx')).size);
  assert.ok(info.compression > 8);
});

test('cbp eval --json has top1, top5, images, imagesPerSecond and device', () => {
  const r = cbpJson<Record<string, unknown>>(['eval', '--onnx', path.join(tmp, 'bin.onnx'), '--data', 'mnist', '--limit', '1000']);
  for (const k of ['top1', 'top5', 'images', 'imagesPerSecond', 'device']) assert.ok(k in r, k);
  assert.equal(r.images, 1000);
  assert.ok((r.top1 as number) > 0.9 && (r.top1 as number) <= (r.top5 as number) && (r.top5 as number) <= 1);
  assert.equal(r.device, 'cpu');
});

test('export and eval errors name the flag or file and what was expected', () => {
  const missing = cbp(['export', '--format', 'onnx', '--checkpoint', path.join(tmp, 'absent')]);
  assert.equal(missing.status, 2);
  assert.match(errorText(missing.stderr), /--checkpoint \S*absent: no such checkpoint folder/);
  const fmt = cbp(['export', '--format', 'tflite', '--checkpoint', floatRun]);
  assert.match(errorText(fmt.stderr), /--format tflite: unknown format, expected one of onnx/);
  const cuda = cbp(['eval', '--onnx', path.join(tmp, 'bin.onnx'), '--device', 'cuda']);
  assert.equal(cuda.status, 2);
  assert.match(errorText(cuda.stderr), /--device cuda: CUDA is not available/);
  const noFile = cbp(['eval', '--onnx', path.join(tmp, 'nope.onnx')]);
  assert.match(errorText(noFile.stderr), /--onnx \S*nope\.onnx: no such file/);
});
