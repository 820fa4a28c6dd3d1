import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type {TrainResult} from '../../src/train/trainer';
import type {EvalResult} from '../../src/eval/evaluate';
import type {ExportResult} from '../../src/app/export';
import type {ModelInfo} from '../../src/app/info';
import {readOnnx} from '../../onnx/reader';
import {DataType} from '../../onnx/schema';
import {cbpJson} from '../cli';
import {tempDir} from '../helpers';

// uni2 exists only as one entry of src/cbp/registry.ts; this is the proof that the entry alone carries it end to end.
const tmp = tempDir('cbp-uni2-');
const common = ['--model', 'lenet5', '--data', 'mnist', '--limit', '2048', '--batch-size', '64', '--backend', 'wasm', '--no-plot'];
const THIRD = Math.fround(1 / 3);

for (const method of ['cbp', 'ste'] as const) {
  test(`uni2 (levels ±⅓, ±1) trains by ${method}, exports as INT4 codes ±1, ±3, evaluates in ONNX Runtime as in training, and shows in cbp info`, () => {
    const run = path.join(tmp, method);
    const trained = cbpJson<TrainResult>(['train', ...common, '--quant', 'uni2', '--method', method, '--epochs', '1', '--lr', '0.05', '--out', run]);
    assert.equal(trained.quant, 'uni2');
    assert.ok(trained.top1 > 0.5, `top-1 ${trained.top1} after one epoch on 2,048 images`);
    for (const h of trained.histograms) {
      assert.deepEqual(h.levels, [-1, -1 / 3, 1 / 3, 1]);
      assert.equal(h.offLevel, 0);
      assert.ok(h.counts.every((c) => c > 0), `${h.layer}: every level is used (${h.counts.join(', ')})`);
    }
    const file = path.join(tmp, `${method}.onnx`);
    const exp = cbpJson<ExportResult>(['export', '--format', 'onnx', '--checkpoint', run, '--out', file]);
    assert.ok(exp.layers.filter((l) => l.constrained).every((l) => l.storage === 'int4' && l.bitsPerWeight === 4));
    const {model} = readOnnx(file);
    const codes = model.graph.initializer.filter((t) => t.name.endsWith('_codes'));
    assert.equal(codes.length, 2);
    assert.ok(codes.every((t) => t.data_type === DataType.INT4));
    // Each step is scale/3, so codes ±1, ±3 give ±⅓·s and ±s.
    const scales = new Map(exp.layers.map((l) => [l.layer, l.scale ?? NaN]));
    for (const t of model.graph.initializer.filter((i) => i.name.endsWith('_step'))) {
      const step = new Float32Array(Uint8Array.from(t.raw_data ?? []).buffer)[0];
      const scale = scales.get(t.name.replace(/\.weight_step$/, '')) ?? NaN;
      assert.ok(Math.abs(step - Math.fround(scale * THIRD)) <= 2e-7 * scale, `${t.name}: step ${step} = scale/3`);
    }
    const ev = cbpJson<EvalResult>(['eval', '--onnx', file, '--data', 'mnist']);
    assert.ok(Math.abs(ev.top1 - trained.top1) <= 0.0005, `ONNX Runtime top-1 ${ev.top1}, training's ${trained.top1}`);
    const info = cbpJson<ModelInfo>(['info', file]);
    assert.equal(info.constraint, 'uni2');
    const constrained = info.layers.filter((l) => l.constraint === 'uni2');
    assert.equal(constrained.length, 2);
    assert.deepEqual(constrained[0].levels, [-1, -1 / 3, 1 / 3, 1]);
    assert.deepEqual(
      constrained.map((l) => l.counts),
      trained.histograms.map((h) => h.counts),
    );
  });
}
