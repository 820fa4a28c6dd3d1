import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {tf} from '../../src/train/tfjs/tf';
import {openSession, runBatch} from '../../src/core/ort';
import {exportCheckpoint} from '../../src/app/export';
import {importPth} from '../../src/app/import-torch';
import {readCheckpoint, modelWeights} from '../../src/run/checkpoint';
import {Network} from '../../src/train/tfjs/network';
import {specOf} from '../../src/run/spec-of';
import {SEED_QUANTS, type QuantOrNone} from '../../models/spec';
import {ROOT, FIXTURES, tempDir} from '../helpers';
import {cbpJson} from '../cli';

interface ModelFixture {
  base: number;
  size: number;
  batch: number;
  logits: Record<string, number[][]>;
}

/** The input the fixture script fed PyTorch: float32(1.5·sin(0.37·i + 0.1)), NCHW. */
function formulaInput(count: number): Float32Array {
  return Float32Array.from({length: count}, (_, i) => 1.5 * Math.sin(0.37 * i + 0.1));
}

const tmp = tempDir('cbp-torch-');

async function checkAgainstPyTorch(file: string, model: string, fx: ModelFixture, quants: readonly QuantOrNone[]): Promise<void> {
  const x = formulaInput(fx.batch * 3 * fx.size * fx.size);
  for (const quant of quants) {
    const out = path.join(tmp, `${model}-${quant}`);
    importPth({file, model, quant, out, inputSize: fx.size});
    const onnx = `${out}.onnx`;
    await exportCheckpoint({checkpoint: out, format: 'onnx', weights: 'auto', out: onnx, backend: 'wasm'});
    const expected = fx.logits[quant].flat();
    const largest = Math.max(...expected.map(Math.abs));
    const opened = await openSession(fs.readFileSync(onnx), 'cpu', onnx);
    const ort = (await runBatch(opened.session, x, [fx.batch, 3, fx.size, fx.size])).data;
    await opened.session.release();
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(ort[i] - expected[i]));
    assert.ok(worst <= 1e-4 * largest, `${model} ${quant}: ONNX Runtime differs from PyTorch by ${worst} (largest logit ${largest})`);

    const ck = readCheckpoint(out);
    const net = new Network(specOf(ck.state.config), quant, modelWeights(ck.tensors));
    const tfOut = tf.tidy(() => net.forward(tf.transpose(tf.tensor4d(x, [fx.batch, 3, fx.size, fx.size]), [0, 2, 3, 1]), false).dataSync());
    net.dispose();
    let worstTf = 0;
    for (let i = 0; i < expected.length; i++) worstTf = Math.max(worstTf, Math.abs(tfOut[i] - expected[i]));
    assert.ok(worstTf <= 1e-4 * largest, `${model} ${quant}: tfjs differs from PyTorch by ${worstTf} (largest logit ${largest})`);
  }
}

const small = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'torch', 'models.json'), 'utf8')) as Record<string, ModelFixture>;
const FILES: Record<string, string> = {
  resnet18: 'resnet18_cbp_zip.pth',
  resnet50: 'resnet50_legacy.pth',
  alexnet: 'alexnet_cbp_legacy.pth',
};

for (const [model, file] of Object.entries(FILES)) {
  test(`${model} (${file}): imported, exported and run in ONNX Runtime and tfjs, logits match PyTorch's CBP-quantized forward for every constraint`, async () => {
    await tf.setBackend('wasm');
    await checkAgainstPyTorch(path.join(FIXTURES, 'torch', file), model, small[model], ['none', ...SEED_QUANTS]);
  });
}

// Full-size models at the published widths (about 45–240 MB each) are made by
// `make_torch_fixtures.py --full` into .cache/torch-full and are not committed; this check runs where they exist.
const fullDir = path.join(ROOT, '.cache', 'torch-full');
const haveFull = fs.existsSync(path.join(fullDir, 'models.json'));
test('published-width ResNet-18, ResNet-50 and AlexNet (1000 classes) match PyTorch', {skip: haveFull ? false : 'run make_torch_fixtures.py --full to create them'}, async () => {
  await tf.setBackend('wasm');
  const full = JSON.parse(fs.readFileSync(path.join(fullDir, 'models.json'), 'utf8')) as Record<string, ModelFixture>;
  for (const model of ['resnet18', 'resnet50', 'alexnet']) await checkAgainstPyTorch(path.join(fullDir, `${model}.pth`), model, full[model], ['bin', 'ter']);
});

test('cbp import from the command line reports where each scale came from', () => {
  const r = cbpJson<{scalesFromCheckpoint: string[]; scalesFromWeights: string[]; format: string; numClasses: number; base: number}>([
    'import', path.join(FIXTURES, 'torch', 'resnet50_legacy.pth'), '--model', 'resnet50', '--quant', 'ter', '--input-size', '64', '--out', path.join(tmp, 'cli-r50'),
  ]);
  assert.equal(r.format, 'legacy');
  assert.equal(r.numClasses, 10);
  assert.equal(r.base, 4);
  assert.equal(r.scalesFromCheckpoint.length, 0);
  // Every convolution but the stem, downsample convolutions included: 16 blocks × 3 + 4 downsamples.
  assert.equal(r.scalesFromWeights.length, 52);
});
