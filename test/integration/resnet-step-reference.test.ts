import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {selectBackend} from '../../src/train/tfjs/backend';
import {LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../../src/run/checkpoint';
import {isQuant} from '../../src/cbp/registry';
import {createOrtEngine} from '../../src/train/ort/engine';
import {createTfjsEngine} from '../../src/train/tfjs/engine';
import {getModel} from '../../models/index';
import {FIXTURES} from '../helpers';
import {shapeOnlySource} from '../engine-helpers';
import {assertClose, type TensorJson, weightsOf} from '../unit/cbp/torch-fixture';

interface Case {
  quant: string;
  weights: Record<string, TensorJson>;
  lambda: Record<string, TensorJson>;
  momentum: Record<string, TensorJson>;
  x: TensorJson;
  labels: number[];
  loss: number;
  lagrangian: number;
  after: Record<string, TensorJson>;
  momentum_after: Record<string, TensorJson>;
}

// Made by test/fixtures/scripts/make_resnet_step_reference.py: one CBP step of a width-2 ResNet-20 in PyTorch,
// from the ModelSpec cbp builds (stride-2 blocks with 1×1 downsampling, global pooling, batch norm with batch
// statistics), for ternary and 2-bit shift weights.
const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'resnet20_step_reference.json'), 'utf8')) as {ucs: number; lr: number; weight_decay: number; width: number; cases: Case[]};

// The ONNX Runtime engine twice: its update pass on one thread, and split with a worker thread (update-threads.ts),
// which the engine chooses by itself only for models of a million constrained weights or more.
for (const [engine, updateThreads] of [['onnxruntime', 1], ['onnxruntime', 2], ['tfjs', 1]] as const) {
  test(`${engine} engine${engine === 'onnxruntime' ? ` (update on ${updateThreads} thread${updateThreads > 1 ? 's' : ''})` : ''}: one CBP step of a narrow ResNet-20 matches PyTorch (loss, Lagrangian, every tensor and momentum buffer), ternary and 2-bit`, async () => {
    const spec = getModel('resnet20', 10, [1, 28, 28], ref.width);
    for (const c of ref.cases) {
      if (!isQuant(c.quant)) throw new Error(`fixture names unknown constraint ${c.quant}`);
      const n = c.labels.length;
      const stored = new Map([...weightsOf(c.lambda, LAMBDA_PREFIX), ...weightsOf(c.momentum, MOMENTUM_PREFIX)]);
      const common = {spec, quant: c.quant, weights: weightsOf(c.weights), stored, weightDecay: ref.weight_decay, lrLambda: 1e-4, constraintTerm: true, source: shapeOnlySource(spec.inputShape, 10)};
      const nchw = Float32Array.from(c.x.data);
      let e;
      if (engine === 'onnxruntime') {
        e = await createOrtEngine({...common, device: 'cpu', updateThreads});
      } else {
        await selectBackend('cpu');
        e = await createTfjsEngine({...common, backend: 'cpu', workers: 1});
      }
      try {
        const nhwc = new Float32Array(nchw.length);
        const [ch, h, w] = spec.inputShape;
        for (let b = 0; b < n; b++) for (let k = 0; k < ch; k++) for (let p = 0; p < h * w; p++) nhwc[(b * h * w + p) * ch + k] = nchw[(b * ch + k) * h * w + p];
        const r = await e.step({x: engine === 'onnxruntime' ? nchw : nhwc, y: Int32Array.from(c.labels), count: n}, ref.ucs, ref.lr);
        const where = `${engine} (${updateThreads}) ${c.quant}`;
        assert.ok(Math.abs(r.loss - c.loss) <= 1e-5 * Math.max(1, c.loss), `${where}: loss ${r.loss}, PyTorch ${c.loss}`);
        assert.ok(Math.abs(r.lagrangian - c.lagrangian) <= 1e-5 * Math.max(1, c.lagrangian), `${where}: Lagrangian ${r.lagrangian}, PyTorch ${c.lagrangian}`);
        const state = e.state();
        for (const [key, t] of Object.entries(c.after)) assertClose((state.get(key) ?? assert.fail(`${where}: no ${key}`)).data, t.data, `${where} ${key}`);
        // A momentum buffer is almost the gradient itself: float32 backward passes agree to a few 1e-5 (see engines.test.ts).
        for (const [key, t] of Object.entries(c.momentum_after)) assertClose((state.get(MOMENTUM_PREFIX + key) ?? assert.fail(`${where}: no momentum for ${key}`)).data, t.data, `${where} momentum of ${key}`, 1e-4);
      } finally {
        await e.close();
      }
    }
  });
}
