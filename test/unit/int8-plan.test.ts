import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import {Rng} from '../../src/core/rng';
import {initialWeights} from '../../src/train/init';
import {getModel} from '../../models/index';
import {PERCENTILE, RangeGatherer, exactWeights, planInt8, uint8Params} from '../../onnx/int8';
import {encodeModel, onnxModel} from '../../onnx/writer';
import {DataType} from '../../onnx/schema';

/** The int8 plan of onnx/int8.ts: folding, exact codes, parameters and ranges. */

test('folding the batch norms into the convolutions keeps a ResNet-20\'s logits, and a constrained layer\'s INT8 codes times its per-channel scales are the folded weights', async () => {
  const spec = getModel('resnet20', 10, [1, 28, 28]);
  const weights = initialWeights(spec, 'ter', 1);
  // Batch-norm statistics far from the identity, some scales negative: folding must carry all of them.
  const rng = new Rng(7);
  for (const [k, t] of weights) {
    if (/running_var$/.test(k)) t.data.forEach((_, i) => (t.data[i] = 0.2 + rng.next() * 3));
    if (/running_mean$/.test(k) || /(bn\d|downsample\.1)\.bias$/.test(k)) t.data.forEach((_, i) => (t.data[i] = rng.normal() * 0.5));
    if (/(bn\d|downsample\.1)\.weight$/.test(k)) t.data.forEach((_, i) => (t.data[i] = rng.normal()));
  }
  const float = onnxModel(spec, 'ter', weights, 'float', {});
  const exact = exactWeights(float.layers, weights, 'ter');
  const plan = planInt8(float.model, exact, () => false);
  assert.equal(plan.foldedBatchNorms, 21);
  assert.equal(plan.folded.graph.node.filter((n) => n.op_type === 'BatchNormalization').length, 0);

  const n = 4;
  const x = Float32Array.from({length: n * 28 * 28}, () => rng.normal());
  const run = async (bytes: Uint8Array): Promise<Float32Array> => {
    const s = await ort.InferenceSession.create(bytes);
    const y = (await s.run({input: new ort.Tensor('float32', x, [n, 1, 28, 28])})).logits.data;
    await s.release();
    assert.ok(y instanceof Float32Array);
    return y;
  };
  const a = await run(encodeModel(float.model, 'float'));
  const b = await run(encodeModel(plan.folded, 'folded'));
  const largest = Math.max(1, ...a.map(Math.abs));
  const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(worst <= 1e-4 * largest, `folded logits differ by ${worst} (largest ${largest})`);

  const inits = new Map(plan.folded.graph.initializer.map((t) => [t.name, t]));
  let checked = 0;
  for (const [name, cw] of plan.weights) {
    if (!cw.exact) continue;
    const t = inits.get(name);
    assert.ok(t !== undefined && t.data_type === DataType.FLOAT);
    const raw = new Uint8Array(t.raw_data ?? []);
    const w = new Float32Array(raw.buffer, 0, raw.length / 4);
    const per = w.length / cw.dims[0];
    for (let i = 0; i < w.length; i++) {
      const s = cw.scales[Math.floor(i / per)];
      assert.ok(s > 0);
      assert.ok(Math.abs(cw.codes[i] * s - w[i]) <= 1e-6 * Math.max(1, Math.abs(w[i])), `${name}[${i}]: ${cw.codes[i]} × ${s} ≠ ${w[i]}`);
      assert.ok(cw.codes[i] >= -1 && cw.codes[i] <= 1, 'ternary codes stay −1, 0, 1 after folding');
    }
    checked++;
  }
  assert.equal(checked, 20, 'every conv but the first is constrained and exact');
  // The RGB-style padding: resnet20's first conv reads one channel, padded to 4 for the integer kernels.
  assert.deepEqual(plan.weights.get('conv1.weight')?.dims, [16, 4, 3, 3]);
  assert.equal(plan.folded.graph.node[0].op_type, 'Pad');
});

test('uint8 parameters hold 0 exactly; a ReLU-style range starts at zero point 0', () => {
  assert.deepEqual(uint8Params({min: 0, max: 2.55}), {scale: Math.fround(0.01), zeroPoint: 0});
  const p = uint8Params({min: -1, max: 3});
  assert.equal(p.zeroPoint, 64);
  assert.equal(Math.fround(-p.zeroPoint * p.scale + p.zeroPoint * p.scale), 0);
  // A range that does not hold 0 is widened to it; an empty one still gives a usable scale.
  assert.deepEqual(uint8Params({min: 2, max: 4}), uint8Params({min: 0, max: 4}));
  assert.equal(uint8Params({min: 0, max: 0}).scale, 1);
});

test('ranges: min/max takes the extremes over batches; percentile trims the outliers of each batch and averages', () => {
  const values = Float32Array.from({length: 100_000}, (_, i) => (i % 1000) / 1000);
  values[5] = 1000;
  const minmax = new RangeGatherer('minmax');
  const pct = new RangeGatherer('percentile');
  for (const g of [minmax, pct]) {
    g.add('t', values);
    g.add('t', values.map((v) => v * 2));
  }
  assert.deepEqual(minmax.result().get('t'), {min: 0, max: 2000});
  const r = pct.result().get('t');
  assert.ok(r !== undefined);
  assert.ok(PERCENTILE === 0.9999);
  // The single outlier of each batch is trimmed: the top of the ordinary values is ~1 and ~2, averaged ~1.5, within
  // one histogram bin (range / 4096) of it.
  assert.ok(r.max < 1.5 + 2000 / 4096 + 1e-9 && r.max > 1.4, `percentile max ${r.max}`);
  assert.throws(() => minmax.add('bad', Float32Array.of(1, Number.NaN)), /non-finite/);
});
