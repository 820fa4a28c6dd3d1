import {test} from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import {selectBackend} from '../../src/train/tfjs/backend';
import {Rng} from '../../src/core/rng';
import type {Tensor32, Weights} from '../../src/core/weights';
import {QUANT_OR_NONE} from '../../src/cbp/registry';
import {LAMBDA_PREFIX, MOMENTUM_PREFIX, readCheckpoint} from '../../src/run/checkpoint';
import {initialWeights} from '../../src/train/init';
import {createOrtEngine} from '../../src/train/ort/engine';
import {createTfjsEngine} from '../../src/train/tfjs/engine';
import {constrainedNodes, paramInfos, type ModelSpec} from '../../models/spec';
import {getModel} from '../../models/index';
import {shapeOnlySource} from '../engine-helpers';
import {assertClose} from '../unit/cbp/torch-fixture';
import {cbp} from '../cli';
import {tempDir} from '../helpers';

// Narrow versions of every architecture family, so a step runs in seconds on both engines.
const MODELS: readonly {readonly label: string; readonly spec: () => ModelSpec; readonly batch: number}[] = [
  {label: 'LeNet-5', spec: () => getModel('lenet5', 10, [1, 28, 28]), batch: 8},
  {label: 'ResNet-20 (width 4)', spec: () => getModel('resnet20', 10, [1, 28, 28], 4), batch: 6},
  {label: 'ResNet-18 (width 4, 64×64)', spec: () => getModel('resnet18', 10, [3, 64, 64], 4), batch: 4},
  // Batch norm over a batch of 3 amplifies float32 rounding past any tolerance; 8 is the smallest batch we test.
  {label: 'AlexNet (width 4)', spec: () => getModel('alexnet', 10, [3, 224, 224], 4), batch: 8},
];

/** λ, Adam moments and momentum buffers as a resumed run would hold them: nonzero, so every term of the update acts. */
function storedState(spec: ModelSpec, quant: (typeof QUANT_OR_NONE)[number], rng: Rng): Weights {
  const out: Weights = new Map();
  const fill = (shape: readonly number[], scale: number): Float32Array => Float32Array.from({length: shape.reduce((a, b) => a * b, 1)}, () => rng.normal() * scale);
  for (const i of paramInfos(spec, quant).filter((p) => p.trainable)) out.set(MOMENTUM_PREFIX + i.key, {shape: i.shape, data: fill(i.shape, 0.01)});
  for (const node of constrainedNodes(spec, quant)) {
    const shape = paramInfos(spec, quant).find((p) => p.key === `${node.name}.weight`)?.shape ?? [];
    out.set(LAMBDA_PREFIX + node.name, {shape, data: Float32Array.from(fill(shape, 1), Math.abs)});
  }
  return out;
}

for (const m of MODELS) {
  test(`${m.label}: one CBP step on the ONNX Runtime engine equals the tfjs engine's (loss, Lagrangian, every updated tensor, momentum), for ${QUANT_OR_NONE.join(', ')}`, async () => {
    // tfjs's reference backend. With these random weights one ReLU input of the ternary ResNet-20 lies 7e-7 from zero,
    // so which side float32 rounding puts it on decides a gradient path: on wasm it lands on the other side from
    // PyTorch's float64 (and the cpu backend and the ONNX Runtime engine), which no tolerance should paper over.
    await selectBackend('cpu');
    for (const quant of QUANT_OR_NONE) {
      const spec = m.spec();
      const rng = new Rng(17);
      // Batch-norm parameters and statistics away from their initial 1 and 0, as in the middle of a run.
      const weights = new Map([...initialWeights(spec, quant, 3)].map(([k, t]) => {
        const bn = paramInfos(spec, quant).find((p) => p.key === k)?.role;
        const shift = bn === 'bn_weight' || bn === 'running_var' ? 1 : bn === 'bn_bias' || bn === 'running_mean' ? 0 : undefined;
        return [k, shift === undefined ? t : {shape: t.shape, data: Float32Array.from(t.data, () => shift + 0.3 * rng.normal())}];
      }));
      const stored = storedState(spec, quant, rng);
      const [c, h, w] = spec.inputShape;
      const n = m.batch;
      const nchw = Float32Array.from({length: n * c * h * w}, () => rng.normal());
      const nhwc = new Float32Array(nchw.length);
      for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) nhwc[(b * h * w + p) * c + ch] = nchw[(b * c + ch) * h * w + p];
      const y = Int32Array.from({length: n}, (_, i) => i % spec.numClasses);
      const common = {spec, quant, weights, stored, weightDecay: 1e-2, lrLambda: 1e-4, constraintTerm: true, source: shapeOnlySource(spec.inputShape, spec.numClasses)};
      const tfjs = await createTfjsEngine({...common, backend: 'cpu', workers: 1});
      const ort = await createOrtEngine({...common, device: 'cpu'});
      try {
        const a = await tfjs.step({x: nhwc, y, count: n}, 0.5, 0.05);
        const b = await ort.step({x: nchw, y, count: n}, 0.5, 0.05);
        const where = `${m.label} ${quant}`;
        assert.ok(a.finite && b.finite, where);
        assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.max(1, Math.abs(a.loss)), `${where}: loss tfjs ${a.loss}, ORT ${b.loss}`);
        assert.ok(Math.abs(a.lagrangian - b.lagrangian) <= 1e-5 * Math.max(1, Math.abs(a.lagrangian)), `${where}: Lagrangian tfjs ${a.lagrangian}, ORT ${b.lagrangian}`);
        const [sa, sb] = [tfjs.state(), ort.state()];
        assert.deepEqual([...sb.keys()].sort(), [...sa.keys()].sort(), `${where}: the same checkpoint tensors`);
        // Weights, λ and statistics within 1e-5 of each tensor's largest value. A momentum buffer is almost the gradient
        // itself, where two float32 implementations of a deep net's backward pass agree to 1–4e-5 (measured): 1e-4.
        for (const [key, t] of sa) {
          assertClose((sb.get(key) ?? assert.fail(`${where}: ORT has no ${key}`)).data, t.data, `${where} ${key}`, key.startsWith(MOMENTUM_PREFIX) ? 1e-4 : 1e-5);
        }
      } finally {
        await tfjs.close();
        await ort.close();
      }
    }
  });
}

test('λ after a real `cbp train` epoch (raised before it and after it, --period 1) agrees between the two engines', async () => {
  const tmp = tempDir('cbp-lambda-');
  try {
    const lambdas = new Map<string, ReadonlyMap<string, Tensor32>>();
    for (const engine of ['onnxruntime', 'tfjs']) {
      const out = path.join(tmp, engine);
      // One step per epoch: the two engines' weights after it agree to float32 rounding, so their λ must too.
      const r = cbp(['train', '--model', 'lenet5', '--quant', 'ter', '--data', 'mnist', '--limit', '64', '--batch-size', '64', '--lr', '0.01', '--epochs', '1', '--period', '1', '--test-limit', '100', '--seed', '3', '--engine', engine, '--no-plot', '--out', out]);
      assert.equal(r.status, 0, `${engine}: ${r.stderr}`);
      const {state, tensors} = readCheckpoint(out);
      assert.equal(state.schedule?.lambdaSteps, 2, `${engine}: λ raised before the epoch and after it`);
      lambdas.set(engine, new Map([...tensors].filter(([k]) => k.startsWith(LAMBDA_PREFIX))));
    }
    const [ort, tfjs] = [lambdas.get('onnxruntime'), lambdas.get('tfjs')].map((m) => m ?? assert.fail('missing run'));
    assert.deepEqual([...tfjs.keys()].sort(), [...ort.keys()].sort());
    assert.ok(ort.size > 0);
    for (const [key, a] of ort) {
      const b = (tfjs.get(key) ?? assert.fail(key)).data;
      let largest = 0;
      let [sumA, sumB] = [0, 0];
      for (let i = 0; i < a.data.length; i++) {
        largest = Math.max(largest, Math.abs(a.data[i]));
        sumA += a.data[i];
        sumB += b[i];
      }
      assert.ok(largest > 0, `${key}: λ was raised`);
      // Where c(w) is tiny (a weight almost on its level) Adam's ratio amplifies the engines' float32 rounding of w:
      // a few elements in a thousand differ by a few percent of λ's largest value; no element may differ by an
      // ascent's worth, and the mean agrees closely.
      let off = 0;
      for (let i = 0; i < a.data.length; i++) {
        const d = Math.abs(a.data[i] - b[i]);
        assert.ok(d <= 0.1 * largest, `${key}[${i}]: λ ORT ${a.data[i]}, tfjs ${b[i]}`);
        if (d > 1e-5 * largest) off++;
      }
      assert.ok(off <= 0.01 * a.data.length, `${key}: ${off} of ${a.data.length} λ differ by more than 1e-5 of the largest`);
      assert.ok(Math.abs(sumA - sumB) <= 1e-4 * Math.abs(sumA), `${key}: mean λ ORT ${sumA / a.data.length}, tfjs ${sumB / a.data.length}`);
    }
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
});
