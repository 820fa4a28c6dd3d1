/**
 * One CBP training-step measurement in its own process (so its peak memory is its own):
 * node dist/bench/step.js lenet5|resnet18|resnet20 [backend] [threads] [base] (resnet20: batch 128 on 1×28×28; base:
 * the stem width, the model's own when omitted). Prints {msPerStep, peakRssMB, backend, threads}; threads
 * default to what `cbp train` uses (defaultWorkers). Backend `onnxruntime` measures the ONNX Runtime engine instead
 * of a tfjs backend (its first step, which includes ORT's own warm-up, is reported apart as firstStepMs).
 * node dist/bench/step.js onnx FILE: the ONNX Runtime engine's step on a model `cbp import` reads from FILE (batch 32,
 * or BENCH_BATCH).
 * BENCH_STEPS sets the number of timed steps after the one warm-up step (bench/torch_ref.py reads the same), and
 * `cores` reports the CPU the timed steps used: CPU seconds of all the process's threads over wall seconds.
 */
import {selectBackend} from '../src/train/tfjs/backend';
import {createTfjsEngine} from '../src/train/tfjs/engine';
import {initialWeights} from '../src/train/init';
import {defaultWorkers} from '../src/train/tfjs/shards';
import {Rng} from '../src/core/rng';
import {getModel} from '../models/index';
import {sessionThreads} from '../src/core/cores';
import * as os from 'node:os';
import {constrainedNodes, paramInfos, type ModelSpec} from '../models/spec';
import {LAMBDA_PREFIX} from '../src/run/checkpoint';
import {createOrtEngine} from '../src/train/ort/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {importOnnx} from '../src/app/import-onnx';
import {modelWeights, readCheckpoint} from '../src/run/checkpoint';
import type {Tensor32, Weights} from '../src/core/weights';
import type {Source} from '../src/data/source';

/** λ 1e-4 on every constrained weight, as a resumed checkpoint would hold it. */
function lambdasOf(spec: ModelSpec): Map<string, Tensor32> {
  return new Map(constrainedNodes(spec, 'bin').map((n) => {
    const shape = paramInfos(spec, 'bin').find((p) => p.key === `${n.name}.weight`)?.shape ?? [];
    return [LAMBDA_PREFIX + n.name, {shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1e-4)}];
  }));
}

/** The data an engine is told of: the model's input shape and 10 classes, no test images. */
function benchSource(spec: ModelSpec): Source {
  return {kind: 'builtin', name: 'bench', shape: spec.inputShape, numClasses: 10, labels: [], mean: [0], std: [1], test: {count: 0, batches: async function* () {}}};
}

/** The environment variable `name` when set (a whole number ≥ 1), else `fallback`: BENCH_STEPS, BENCH_BATCH. */
function wholeEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${v}: expected a whole number ≥ 1`);
  return n;
}

/** BENCH_STEPS when set, else the model's own count. */
const timedSteps = (fallback: number): number => wholeEnv('BENCH_STEPS', fallback);

/** The median of the timed steps and the cores they used, from per-step times and the CPU/wall at the first. */
function summary(times: number[], cpu0: NodeJS.CpuUsage, wall0: bigint): {msPerStep: number; cores: number} {
  const cpu = process.cpuUsage(cpu0);
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
  const s = [...times].sort((a, b) => a - b);
  const m = s.length >> 1;
  return {msPerStep: s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2, cores: (cpu.user + cpu.system) / 1e6 / wall};
}

async function main(): Promise<void> {
  if (process.argv[2] === 'onnx') {
    // An ONNX file as `cbp import` reads it (torchvision's MobileNetV2, ResNet-50; the study's ViT): batch 32, or
    // BENCH_BATCH, on its input shape.
    const file = process.argv[3] ?? '';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-step-'));
    let imported;
    try {
      await importOnnx({file, out: dir, quant: 'bin'});
      imported = readCheckpoint(dir);
    } finally {
      // Each round imports afresh: the folder is read once, then removed (a harness run makes dozens).
      fs.rmSync(dir, {recursive: true, force: true});
    }
    const spec = imported.state.config.spec;
    if (spec === undefined) throw new Error(`${file}: no spec`);
    return ortStep(spec, wholeEnv('BENCH_BATCH', 32), timedSteps(3), modelWeights(imported.tensors));
  }
  const which = process.argv[2] === 'resnet18' || process.argv[2] === 'resnet20' ? process.argv[2] : 'lenet5';
  const [batch, shape, steps] =
    which === 'lenet5' ? [256, [1, 28, 28] as const, timedSteps(10)] : which === 'resnet20' ? [128, [1, 28, 28] as const, timedSteps(3)] : [32, [3, 224, 224] as const, timedSteps(3)];
  const spec = getModel(which, 10, shape, process.argv[5] !== undefined ? Number(process.argv[5]) : undefined);
  if (process.argv[3] === 'onnxruntime') return ortStep(spec, batch, steps);
  const backend = await selectBackend(process.argv[3] ?? 'auto');
  const threads = process.argv[4] !== undefined ? Number(process.argv[4]) : defaultWorkers(backend.name, batch);
  const engine = await createTfjsEngine({spec, quant: 'bin', weights: initialWeights(spec, 'bin', 1), stored: lambdasOf(spec), weightDecay: 1e-4, lrLambda: 1e-4, constraintTerm: true, source: benchSource(spec), backend: backend.name, workers: threads});
  const rng = new Rng(3);
  const x = Float32Array.from({length: batch * shape[0] * shape[1] * shape[2]}, () => rng.normal());
  const y = Int32Array.from({length: batch}, () => Math.floor(rng.next() * 10));
  const times: number[] = [];
  let cpu0 = process.cpuUsage();
  let wall0 = process.hrtime.bigint();
  for (let i = 0; i <= steps; i++) {
    if (i === 1) [cpu0, wall0] = [process.cpuUsage(), process.hrtime.bigint()];
    const t = process.hrtime.bigint();
    await engine.step({x, y, count: batch}, 0, 1e-3);
    if (i > 0) times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const {msPerStep, cores} = summary(times, cpu0, wall0);
  await engine.close();
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({msPerStep, peakRssMB, cores, steps, backend: backend.name, threads}) + '\n');
}

/** The same step on the ONNX Runtime engine (λ 1e-4 everywhere, ucs 0, lr 1e-3, weight decay 1e-4). */
async function ortStep(spec: ModelSpec, batch: number, steps: number, given?: Weights): Promise<void> {
  const [c, h, w] = spec.inputShape;
  const weights = given ?? initialWeights(spec, 'bin', 1);
  const engine = await createOrtEngine({spec, quant: 'bin', weights, stored: lambdasOf(spec), weightDecay: 1e-4, lrLambda: 1e-4, constraintTerm: true, source: benchSource(spec), device: 'cpu'});
  const rng = new Rng(3);
  const x = Float32Array.from({length: batch * c * h * w}, () => rng.normal());
  const y = Int32Array.from({length: batch}, () => Math.floor(rng.next() * 10));
  const times: number[] = [];
  let firstStepMs = 0;
  let cpu0 = process.cpuUsage();
  let wall0 = process.hrtime.bigint();
  for (let i = 0; i <= steps; i++) {
    if (i === 1) [cpu0, wall0] = [process.cpuUsage(), process.hrtime.bigint()];
    const t = process.hrtime.bigint();
    await engine.step({x, y, count: batch}, 0, 1e-3);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (i > 0) times.push(ms);
    else firstStepMs = ms;
  }
  const {msPerStep, cores} = summary(times, cpu0, wall0);
  await engine.close();
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({msPerStep, firstStepMs, peakRssMB, cores, steps, backend: engine.backend, threads: sessionThreads()}) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
