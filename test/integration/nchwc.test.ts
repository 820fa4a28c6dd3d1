import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {createOrtEngine} from '../../src/train/ort/engine';
import {nchwcBlockSize} from '../../src/train/ort/nchwc';
import {writeTrainGraph} from '../../src/train/ort/train-graph';
import {initialWeights} from '../../src/train/init';
import {getModel} from '../../models/index';
import {Rng} from '../../src/core/rng';
import {decodeOnnx} from '../../onnx/reader';
import {shapeOnlySource} from '../engine-helpers';
import {assertClose} from '../unit/cbp/torch-fixture';

// The blocked (NCHWc) convolutions must train the same network as plain Conv nodes: same loss, same update, to
// float32 summation order. A full-width ResNet-20 (16, 32, 64 channels: multiples of the block) exercises them;
// the narrow models of the PyTorch fixtures do not.
test('NCHWc convolutions in the training graph give the step plain convolutions give (full-width ResNet-20, ternary CBP)', async (t) => {
  const block = await nchwcBlockSize();
  if (block === undefined) {
    // On x86-64 (AVX2 or AVX-512, as every machine this project runs on) ONNX Runtime has the kernels: a probe that
    // finds none there, or whose blocked convolution disagrees with the plain one, is a failure, not a skip.
    assert.notEqual(process.arch, 'x64', 'the NCHWc probe found no usable kernels on an x86-64 CPU');
    t.skip(`no ONNX Runtime NCHWc kernels on ${process.arch}`);
    return;
  }
  const spec = getModel('resnet20', 10, [1, 28, 28]);
  // The graph really holds blocked convolutions: every 3×3 convolution of the three stages, forward and input gradient.
  const graph = decodeOnnx(writeTrainGraph(spec, {nchwcBlock: block}).bytes, 'resnet20 training graph');
  const blocked = graph.graph.node.filter((n) => n.domain === 'com.microsoft.nchwc' && n.op_type === 'Conv').length;
  assert.ok(blocked >= 30, `${blocked} NCHWc convolutions`);
  const rng = new Rng(8);
  const n = 16;
  const batch = {x: Float32Array.from({length: n * 28 * 28}, () => rng.normal()), y: Int32Array.from({length: n}, () => Math.floor(rng.next() * 10)), count: n};
  const runs = [];
  for (const nchwc of [false, true]) {
    const e = await createOrtEngine({spec, quant: 'ter', weights: initialWeights(spec, 'ter', 4), weightDecay: 1e-4, lrLambda: 1e-3, constraintTerm: true, source: shapeOnlySource(spec.inputShape, 10), device: 'cpu', nchwc});
    try {
      e.ascendLambda(0, 1);
      const r = await e.step(batch, 0.5, 0.05);
      runs.push({r, state: e.state()});
    } finally {
      await e.close();
    }
  }
  const [plain, nchwc] = runs;
  assert.ok(Math.abs(nchwc.r.loss - plain.r.loss) <= 1e-5 * plain.r.loss, `loss ${nchwc.r.loss} vs ${plain.r.loss}`);
  assert.ok(Math.abs(nchwc.r.lagrangian - plain.r.lagrangian) <= 1e-5 * plain.r.lagrangian, `Lagrangian ${nchwc.r.lagrangian} vs ${plain.r.lagrangian}`);
  for (const [key, t0] of plain.state) {
    const t1 = nchwc.state.get(key) ?? assert.fail(`no ${key}`);
    // Momentum is the gradient itself: float32 backward passes in another summation order agree to a few 1e-5.
    assertClose(t1.data, t0.data, key, key.startsWith('momentum') ? 1e-4 : 1e-5);
  }
});
