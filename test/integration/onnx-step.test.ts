import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {importOnnx} from '../../src/app/import-onnx';
import {readCheckpoint, LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../../src/run/checkpoint';
import {modelWeights} from '../../src/run/checkpoint';
import {createOrtEngine} from '../../src/train/ort/engine';
import {isQuant} from '../../src/cbp/registry';
import {FIXTURES, tempDir} from '../helpers';
import {cbp, cbpJson, errorText} from '../cli';
import {shapeOnlySource} from '../engine-helpers';
import {assertClose, weightsOf, type StepMeta, type TensorJson} from '../unit/cbp/torch-fixture';
import type {TrainResult} from '../../src/train/trainer';

/**
 * One CBP step of modules PyTorch exported (test/fixtures/scripts/make_onnx_step_reference.py): `cbp import` of the
 * file, then one step on the ONNX Runtime engine from the same λ, momentum and batch, must give PyTorch's step on
 * the module itself — the loss, the Lagrangian, every weight and running statistic (within 1e-5 of each tensor's
 * largest value) and every momentum buffer. This covers each node kind's forward pass in training mode and its
 * backward pass as the importer maps the module's layers.
 */

interface StepCase extends StepMeta {
  lambda: Record<string, TensorJson>;
  momentum: Record<string, TensorJson>;
  x: TensorJson;
  after: Record<string, TensorJson>;
  momentum_after: Record<string, TensorJson>;
}

const dir = path.join(FIXTURES, 'onnx', 'steps');
const tmp = tempDir('cbp-onnx-step-');
const names = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();

test('the step fixtures are there', () => {
  assert.ok(names.length >= 1, `no fixtures in ${dir}`);
});

for (const name of names) {
  test(`${name}.onnx: cbp import, then one CBP step on the ONNX Runtime engine, equals PyTorch's step of the module`, async () => {
    const c = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8')) as StepCase;
    if (!isQuant(c.quant)) throw new Error(`fixture names unknown constraint ${c.quant}`);
    const out = path.join(tmp, name);
    const imported = await importOnnx({file: path.join(dir, `${name}.onnx`), out, quant: c.quant});
    assert.deepEqual(imported.constrained, c.constrained);
    const ck = readCheckpoint(out);
    const spec = ck.state.config.spec;
    if (spec === undefined) throw new Error('no spec in the imported run');
    const stored = new Map([...weightsOf(c.lambda, LAMBDA_PREFIX), ...weightsOf(c.momentum, MOMENTUM_PREFIX)]);
    const e = await createOrtEngine({spec, quant: c.quant, weights: modelWeights(ck.tensors), stored, weightDecay: c.weight_decay, lrLambda: 1e-4, constraintTerm: true, source: shapeOnlySource(spec.inputShape, spec.numClasses), device: 'cpu'});
    try {
      const r = await e.step({x: Float32Array.from(c.x.data), y: Int32Array.from(c.labels), count: c.labels.length}, c.ucs, c.lr, c.seed);
      assert.ok(Math.abs(r.loss - c.loss) <= 1e-5 * Math.max(1, c.loss), `loss ${r.loss}, PyTorch ${c.loss}`);
      assert.ok(Math.abs(r.lagrangian - c.lagrangian) <= 1e-5 * Math.max(1, c.lagrangian), `Lagrangian ${r.lagrangian}, PyTorch ${c.lagrangian}`);
      const state = e.state();
      for (const [key, t] of Object.entries(c.after)) assertClose((state.get(key) ?? assert.fail(`no ${key} in cbp's state`)).data, t.data, `${name} ${key}`);
      // A momentum buffer is almost the gradient itself: float32 backward passes agree to a few 1e-5.
      for (const [key, t] of Object.entries(c.momentum_after)) assertClose((state.get(MOMENTUM_PREFIX + key) ?? assert.fail(`no momentum for ${key}`)).data, t.data, `${name} momentum of ${key}`, 1e-4);
    } finally {
      await e.close();
    }
  });
}

/** A 10-class image folder (train/ and val/) of the fixture photographs, each in two classes. */
function tenClassFolder(root: string): string {
  const photos: string[] = [];
  const val = path.join(FIXTURES, 'imagenet', 'val');
  for (const c of fs.readdirSync(val).sort()) for (const f of fs.readdirSync(path.join(val, c)).sort()) photos.push(path.join(val, c, f));
  for (const split of ['train', 'val']) {
    photos.forEach((file, i) => {
      for (const k of [i % 10, (i + 3) % 10]) {
        const dir = path.join(root, split, `class${k}`);
        fs.mkdirSync(dir, {recursive: true});
        fs.copyFileSync(file, path.join(dir, `${i}-${path.basename(file)}`));
      }
    });
  }
  return root;
}

test('an imported 3×16×16 model trains on an image folder (cropped to its side) on the ONNX Runtime engine; its export evaluates to the top-1 the training printed; the TensorFlow.js engine refuses it, naming what it lacks', async () => {
  const imported = path.join(tmp, 'grouped-import');
  await importOnnx({file: path.join(dir, 'grouped.onnx'), out: imported, quant: 'ter'});
  const data = tenClassFolder(path.join(tmp, 'folder'));
  const refused = cbp(['train', '--init', imported, '--engine', 'tfjs', '--data', data, '--epochs', '1', '--out', path.join(tmp, 'never'), '--no-plot']);
  assert.notEqual(refused.status, 0);
  assert.match(errorText(refused.stderr), /needs the ONNX Runtime engine \(--engine onnxruntime\): the TensorFlow\.js engine has no grouped convolution, dropout in training \(layers dw, grouped, dwm, wide, drop\)/);
  assert.ok(!fs.existsSync(path.join(tmp, 'never')));
  const out = path.join(tmp, 'grouped-ter');
  const trained = cbpJson<TrainResult>(['train', '--init', imported, '--quant', 'ter', '--data', data, '--epochs', '1', '--batch-size', '6', '--out', out, '--no-plot']);
  assert.equal(trained.epochs.length, 1);
  const onnx = path.join(tmp, 'grouped-ter.onnx');
  cbpJson(['export', '--checkpoint', out, '--out', onnx]);
  const evaluated = cbpJson<{top1: number; images: number}>(['eval', '--onnx', onnx, '--data', data]);
  assert.equal(evaluated.images, 16); // 18 files, of which 2 are a truncated JPEG (skipped, as in training)
  assert.equal(evaluated.top1, trained.epochs[0].top1);
});
