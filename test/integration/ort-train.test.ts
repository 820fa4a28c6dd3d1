import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {readCheckpoint} from '../../src/run/checkpoint';
import {decodeSafetensors, encodeSafetensors} from '../../src/run/safetensors';
import type {TrainResult} from '../../src/train/trainer';
import type {EvalResult} from '../../src/eval/evaluate';
import {ROOT, tempDir} from '../helpers';
import {cbp, cbpJson, errorText} from '../cli';

// The ONNX Runtime engine through the command line, as a user runs it: no --engine, no --backend.
const tmp = tempDir('cbp-ort-train-');
const floatRun = path.join(tmp, 'float');
const common = ['--model', 'lenet5', '--data', 'mnist', '--limit', '4096', '--batch-size', '64', '--no-plot'];

test('cbp train picks the ONNX Runtime engine by default on a CPU-only machine, says why, and trains float LeNet-5 far above chance', () => {
  const r = cbp(['train', ...common, '--quant', 'none', '--epochs', '2', '--lr', '0.05', '--out', floatRun, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /engine: onnxruntime \(the fastest engine measured on the CPU/);
  // The device in one line, and why: auto on a machine without ONNX Runtime's CUDA provider.
  assert.match(r.stderr, /^device: cpu, \d+ threads? \(--device auto(: the CUDA provider is installed but did not load; --device cuda says why)?\)$/m);
  const result = JSON.parse(r.stdout) as TrainResult;
  assert.equal(result.backend, 'onnxruntime-cpu');
  assert.ok(result.top1 > 0.9, `top-1 ${result.top1}`);
  assert.equal(readCheckpoint(floatRun).state.backend, 'onnxruntime-cpu');
});

for (const method of ['cbp', 'ste'] as const) {
  test(`${method} binary from the float model on the ONNX Runtime engine stays accurate, and its exported model scores the same in ONNX Runtime`, () => {
    const out = path.join(tmp, `bin-${method}`);
    const r = cbpJson<TrainResult>(['train', ...common, '--quant', 'bin', '--method', method, '--epochs', '1', '--init', floatRun, '--out', out]);
    assert.ok(r.top1 > 0.9, `top-1 ${r.top1}`);
    assert.deepEqual(r.histograms.map((h) => h.layer), ['conv2', 'fc1']);
    assert.ok(r.histograms.every((h) => h.offLevel === 0));
    const file = path.join(tmp, `bin-${method}.onnx`);
    cbpJson(['export', '--format', 'onnx', '--checkpoint', out, '--out', file]);
    const ev = cbpJson<EvalResult>(['eval', '--onnx', file, '--data', 'mnist']);
    assert.ok(Math.abs(ev.top1 - r.top1) <= 0.0005, `exported ${ev.top1}, training's evaluation ${r.top1}`);
  });
}

test('ONNX Runtime engine: a run stopped by kill -9 mid-epoch and resumed reaches bit-identical weights, λ and optimizer state', {timeout: 600_000}, async () => {
  const args = ['train', '--model', 'lenet5', '--data', 'mnist', '--limit', '4096', '--batch-size', '64', '--quant', 'bin', '--epochs', '3', '--seed', '7', '--period', '1', '--no-plot'];
  const whole = path.join(tmp, 'whole');
  cbpJson<TrainResult>([...args, '--out', whole]);
  const killed = path.join(tmp, 'killed');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args, '--out', killed], {stdio: 'ignore'});
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const epochs = (): number => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(killed, 'state.json'), 'utf8')) as {epoch: number}).epoch;
    } catch {
      return 0;
    }
  };
  while (epochs() < 1) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGKILL');
  await exited;
  const after = readCheckpoint(killed).state.epoch;
  assert.ok(after >= 1 && after < 3, `checkpoint after the kill holds ${after} epochs`);
  const resumed = cbpJson<TrainResult>(['train', '--resume', killed]);
  assert.equal(resumed.epochs.length, 3);
  assert.ok(resumed.epochs.some((e) => e.lambdaUpdated), 'λ was raised during the run (--period 1)');
  const a = readCheckpoint(whole).tensors;
  const b = readCheckpoint(killed).tensors;
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [k, t] of a) assert.deepEqual(b.get(k)?.data, t.data, k);
});

test('--engine and --device are checked; --device webgpu without a GPU adapter fails with a clear error', () => {
  for (const [flag, value] of [['--backend', 'wasm'], ['--workers', '2']]) {
    const c = cbp(['train', '--engine', 'onnxruntime', flag, value, '--limit', '64']);
    assert.equal(c.status, 2);
    assert.match(errorText(c.stderr), new RegExp(`${flag} ${value}: .*--engine (is )?onnxruntime|${flag} ${value}: threads of the TensorFlow.js engine`));
  }
  const e = cbp(['train', '--engine', 'pytorch', '--limit', '64']);
  assert.equal(e.status, 2);
  assert.match(errorText(e.stderr), /--engine pytorch: unknown engine, expected one of auto, onnxruntime, tfjs/);
  const d = cbp(['train', '--model', 'lenet5', '--data', 'mnist', '--limit', '64', '--epochs', '1', '--device', 'webgpu', '--out', path.join(tmp, 'webgpu')]);
  // On a machine with a GPU adapter the run may simply work; without one it must say why.
  if (d.status !== 0) {
    assert.equal(d.status, 2);
    assert.match(errorText(d.stderr), /--device webgpu: ONNX Runtime's WebGPU provider did not start \(.*adapter.*\)/);
  }
});

test('--resume of a checkpoint whose run state lies (batch size 0, an unknown constraint, a prototype key) stops with an error naming the file, before any training', () => {
  const good = path.join(tmp, 'bin-cbp');
  const lies: [string, (c: Record<string, unknown>) => void, RegExp][] = [
    ['zero-batch', (c) => void (c.batchSize = 0), /config\.batchSize/],
    ['unknown-quant', (c) => void (c.quant = '3bit'), /config\.quant/],
    ['proto-model', (c) => void (c.model = '__proto__'), /config\.model/],
    ['drops-not-array', (c) => void (c.lrDrops = '2'), /config\.lrDrops/],
    ['drops-decreasing', (c) => void (c.lrDrops = [2, 1]), /config\.lrDrops\[1\]/],
  ];
  for (const [name, lie, field] of lies) {
    const dir = path.join(tmp, `lying-${name}`);
    fs.cpSync(good, dir, {recursive: true});
    // The weights file's metadata is the authority on the run state (state.json is a readable copy): lie there.
    const file = path.join(dir, 'weights.safetensors');
    const {tensors, metadata} = decodeSafetensors(fs.readFileSync(file), file);
    const state = JSON.parse(metadata['cbp.state'] ?? '{}') as {config: Record<string, unknown>};
    lie(state.config);
    fs.writeFileSync(file, encodeSafetensors(tensors, {...metadata, 'cbp.state': JSON.stringify(state)}));
    const r = cbp(['train', '--resume', dir, '--epochs', '3'], 60_000);
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    const text = errorText(r.stderr);
    assert.match(text, /weights\.safetensors/, name);
    assert.match(text, field, name);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
    assert.doesNotMatch(r.stderr, /epoch \d+\/3/, `${name}: no training`);
  }
});

// STE is CBP's baseline: with the same flags it must get the same learning rates. The schedule drops the rate ×0.1
// when g reaches 20 — with --period 1 after the tenth epoch — for STE as for CBP; only CBP raises λ and uses ucs.
test('STE follows the same learning-rate schedule as CBP (the ×0.1 drop after epoch 10 with --period 1), with λ 0 and ucs 0', () => {
  const lrs: Record<string, number[]> = {};
  for (const method of ['cbp', 'ste'] as const) {
    const out = path.join(tmp, `schedule-${method}`);
    cbpJson<TrainResult>(['train', '--model', 'lenet5', '--data', 'mnist', '--limit', '256', '--test-limit', '256', '--batch-size', '128', '--quant', 'ter', '--method', method, '--epochs', '12', '--period', '1', '--lr', '0.01', '--init', floatRun, '--no-plot', '--out', out]);
    const progress = readCheckpoint(out).state.progress;
    lrs[method] = progress.map((r) => r.lr);
    if (method === 'ste') {
      assert.ok(progress.every((r) => r.ucs === 0 && r.lambdaMean === 0 && !r.lambdaUpdated), 'STE has no λ and no window');
    } else {
      assert.ok(progress.every((r) => r.lambdaUpdated && r.lambdaMean > 0), 'CBP raises λ every epoch with --period 1');
    }
  }
  const expected = [...Array.from({length: 10}, () => 0.01), 0.001, 0.001];
  for (const [method, lr] of Object.entries(lrs)) assert.deepEqual(lr.map((v) => Number(v.toPrecision(6))), expected, `${method}'s learning rate per epoch`);
});

// A full-precision run needs a learning-rate schedule to converge (a constant rate plateaus); --lr-drops gives one,
// is stored with the run, can be given or changed on --resume, and is refused where CBP's own schedule governs.
test('--lr-drops: a float run\'s learning rate drops ×0.1 after the listed epochs, is kept on resume, and bad or misplaced values are refused', () => {
  const base = ['train', '--model', 'lenet5', '--data', 'mnist', '--limit', '256', '--test-limit', '256', '--batch-size', '128', '--no-plot'];
  const out = path.join(tmp, 'drops');
  cbpJson<TrainResult>([...base, '--quant', 'none', '--epochs', '2', '--lr', '0.05', '--lr-drops', '1', '--out', out]);
  assert.deepEqual(readCheckpoint(out).state.config.lrDrops, [1]);
  // Resumed with one more drop: the stored list is replaced, the epochs before keep the rates they had.
  cbpJson<TrainResult>(['train', '--resume', out, '--epochs', '4', '--lr-drops', '1,3', '--no-plot']);
  const rates = readCheckpoint(out).state.progress.map((r) => Number(r.lr.toPrecision(6)));
  assert.deepEqual(rates, [0.05, 0.005, 0.005, 0.0005]);
  // Resumed without the flag: the stored drops still apply.
  cbpJson<TrainResult>(['train', '--resume', out, '--epochs', '5', '--no-plot']);
  assert.equal(Number(readCheckpoint(out).state.progress[4].lr.toPrecision(6)), 0.0005);
  const bad: [string[], RegExp][] = [
    [['--quant', 'ter', '--lr-drops', '1', '--epochs', '3'], /--lr-drops 1: a schedule for full-precision runs \(--quant none\); a ter run's learning rate follows CBP's schedule/],
    [['--quant', 'none', '--lr-drops', '3', '--epochs', '3'], /--lr-drops 3: epoch 3 is outside 1\.\.2/],
    [['--quant', 'none', '--lr-drops', '2,1', '--epochs', '5'], /--lr-drops 2,1: epochs must increase \(2 then 1\)/],
    [['--quant', 'none', '--lr-drops', '1.5', '--epochs', '3'], /--lr-drops 1\.5: '1\.5' is not an epoch; expected whole numbers separated by commas/],
  ];
  for (const [flags, message] of bad) {
    const dir = path.join(tmp, 'drops-bad');
    const r = cbp([...base, ...flags, '--out', dir], 60_000);
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(errorText(r.stderr), message);
    assert.ok(!fs.existsSync(path.join(dir, 'state.json')), `${flags.join(' ')}: nothing trained`);
  }
});

test('a registry architecture made for photos (ResNet-18) trained on one-channel MNIST finishes, resumes and exports; a run state that stores no input shape (written before runs stored it) resumes too', {timeout: 300_000}, () => {
  const out = path.join(tmp, 'resnet18-mnist');
  const small = ['--model', 'resnet18', '--data', 'mnist', '--limit', '32', '--test-limit', '32', '--batch-size', '32', '--no-plot', '--quant', 'bin'];
  const first = cbp(['train', ...small, '--epochs', '1', '--out', out]);
  assert.equal(first.status, 0, errorText(first.stderr));
  const state = JSON.parse(fs.readFileSync(path.join(out, 'state.json'), 'utf8')) as {config: Record<string, unknown>};
  assert.deepEqual(state.config.inputShape, [1, 28, 28]);
  assert.deepEqual(readCheckpoint(out).tensors.get('conv1.weight')?.shape, [64, 1, 7, 7]);
  delete state.config.inputShape;
  fs.writeFileSync(path.join(out, 'state.json'), JSON.stringify(state));
  const resumed = cbpJson<TrainResult>(['train', '--resume', out, '--epochs', '2']);
  assert.equal(resumed.epochs.length, 2);
  const file = path.join(tmp, 'resnet18-mnist.onnx');
  cbpJson(['export', '--format', 'onnx', '--checkpoint', out, '--out', file]);
  assert.ok(fs.statSync(file).size > 0);
});
