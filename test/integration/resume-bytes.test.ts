import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {readCheckpoint} from '../../src/run/checkpoint';
import {THREADS_MIN_WEIGHTS} from '../../src/cbp/state';
import type {TrainResult} from '../../src/train/trainer';
import {cbpJson} from '../cli';
import {tempDir} from '../helpers';

// The checkpoint bytes depend on the CPU's instruction set (ONNX Runtime's kernels), so no digest is stored here:
// two runs made in this test are compared, one straight through and one stopped after an epoch and resumed. The
// model has batch norms, twenty constrained layers and enough constrained weights (ResNet-20 at width 32: 1.08 M) for
// the CBP state's update to run on two threads where the machine has two cores.
test('a ResNet-20 run on the ONNX Runtime engine resumed after an epoch writes the same tensors as the run straight through (weights, running statistics, momentum, λ and its Adam moments)', {timeout: 600_000}, () => {
  const tmp = tempDir('cbp-resume-bytes-');
  const args = ['train', '--model', 'resnet20', '--width', '32', '--data', 'mnist', '--limit', '128', '--test-limit', '64', '--batch-size', '32', '--quant', 'ter', '--seed', '9', '--period', '1', '--no-plot'];
  const whole = path.join(tmp, 'whole');
  const r = cbpJson<TrainResult>([...args, '--epochs', '2', '--out', whole]);
  assert.equal(r.backend, 'onnxruntime-cpu');
  const resumed = path.join(tmp, 'resumed');
  cbpJson<TrainResult>([...args, '--epochs', '1', '--out', resumed]);
  const after = cbpJson<TrainResult>(['train', '--resume', resumed, '--epochs', '2', '--no-plot']);
  assert.equal(after.epochs.length, 2);
  const a = readCheckpoint(whole);
  const b = readCheckpoint(resumed);
  assert.ok(a.state.progress.every((e) => e.lambdaUpdated), 'λ was raised every epoch (--period 1)');
  const constrained = r.histograms.reduce((n, h) => n + h.counts.reduce((s, c) => s + c, 0) + h.offLevel, 0);
  assert.ok(constrained >= THREADS_MIN_WEIGHTS, `${constrained} constrained weights, fewer than the two-thread update's ${THREADS_MIN_WEIGHTS}`);
  assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
  for (const [key, t] of a.tensors) {
    const u = b.tensors.get(key)?.data ?? assert.fail(`no ${key} in the resumed run`);
    assert.ok(Buffer.from(u.buffer, u.byteOffset, u.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${key} differs between the run straight through and the resumed one`);
  }
  assert.deepEqual(b.state.progress.map((e) => ({...e, seconds: 0})), a.state.progress.map((e) => ({...e, seconds: 0})));
  fs.rmSync(tmp, {recursive: true, force: true});
});
