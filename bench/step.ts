/**
 * One CBP training-step measurement in its own process (so its peak memory is its own):
 * node dist/bench/step.js lenet5|resnet18|resnet20 [backend] [threads] [base] (resnet20: batch 128 on 1×28×28; base:
 * the stem width, the model's own when omitted). Prints {msPerStep, peakRssMB, backend, threads}; threads
 * default to what `cbp train` uses (defaultWorkers). Backend `onnxruntime` measures the ONNX Runtime engine instead
 * of a tfjs backend (its first step, which includes ORT's own warm-up, is reported apart as firstStepMs).
 * node dist/bench/step.js onnx FILE: the ONNX Runtime engine's step on a model `cbp import` reads from FILE (batch 32).
 */
import {tf} from '../src/core/tf';
import {selectBackend} from '../src/train/tfjs/backend';
import {Network} from '../src/train/tfjs/network';
import {initialWeights} from '../src/train/init';
import {cbpStep, createTrainState} from '../src/train/tfjs/step';
import {defaultWorkers, ShardPool} from '../src/train/tfjs/shards';
import {Rng} from '../src/core/rng';
import {getModel} from '../models/index';
import * as os from 'node:os';
import {constrainedNodes, paramInfos, type ModelSpec} from '../models/spec';
import {LAMBDA_PREFIX} from '../src/run/checkpoint';
import {createOrtEngine} from '../src/train/ort/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {importOnnx} from '../onnx/import/index';
import {modelWeights, readCheckpoint} from '../src/run/checkpoint';
import type {Weights} from '../src/core/weights';

async function main(): Promise<void> {
  if (process.argv[2] === 'onnx') {
    // An ONNX file as `cbp import` reads it (torchvision's MobileNetV2, ResNet-50): batch 32 on its input shape.
    const file = process.argv[3] ?? '';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-step-'));
    await importOnnx({file, out: dir, quant: 'bin'});
    const spec = readCheckpoint(dir).state.config.spec;
    if (spec === undefined) throw new Error(`${file}: no spec`);
    return ortStep(spec, 32, 3, modelWeights(readCheckpoint(dir).tensors));
  }
  const which = process.argv[2] === 'resnet18' || process.argv[2] === 'resnet20' ? process.argv[2] : 'lenet5';
  const [batch, shape, steps] =
    which === 'lenet5' ? [256, [1, 28, 28] as const, 10] : which === 'resnet20' ? [128, [1, 28, 28] as const, 3] : [32, [3, 224, 224] as const, 3];
  const spec = getModel(which, 10, shape, process.argv[5] !== undefined ? Number(process.argv[5]) : undefined);
  if (process.argv[3] === 'onnxruntime') return ortStep(spec, batch, steps);
  const backend = await selectBackend(process.argv[3] ?? 'auto');
  const net = new Network(spec, 'bin', initialWeights(spec, 'bin', 1));
  const st = createTrainState(net, 1e-4, 10);
  for (const l of st.lambdas.values()) l.lambda.assign(tf.add(l.lambda, 1e-4));
  const threads = process.argv[4] !== undefined ? Number(process.argv[4]) : defaultWorkers(backend.name, batch);
  const pool = threads > 1 ? await ShardPool.create(threads, net, backend.name, 10) : undefined;
  const rng = new Rng(3);
  const x = Float32Array.from({length: batch * shape[0] * shape[1] * shape[2]}, () => rng.normal());
  const y = Int32Array.from({length: batch}, () => Math.floor(rng.next() * 10));
  const times: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const t = process.hrtime.bigint();
    await cbpStep(st, x, y, batch, shape, 0, 1e-3, pool);
    if (i > 0) times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await pool?.close();
  times.sort((a, b) => a - b);
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({msPerStep: times[Math.floor(times.length / 2)], peakRssMB, backend: backend.name, threads}) + '\n');
}

/** The same step on the ONNX Runtime engine (λ 1e-4 everywhere, ucs 0, lr 1e-3, weight decay 1e-4). */
async function ortStep(spec: ModelSpec, batch: number, steps: number, given?: Weights): Promise<void> {
  const [c, h, w] = spec.inputShape;
  const weights = given ?? initialWeights(spec, 'bin', 1);
  const lambdas = new Map(constrainedNodes(spec, 'bin').map((n) => {
    const shape = paramInfos(spec, 'bin').find((p) => p.key === `${n.name}.weight`)?.shape ?? [];
    return [LAMBDA_PREFIX + n.name, {shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1e-4)}];
  }));
  const source = {kind: 'builtin' as const, name: 'bench', shape: spec.inputShape, numClasses: 10, labels: [], mean: [0], std: [1], test: {count: 0, batches: async function* () {}}};
  const engine = await createOrtEngine({spec, quant: 'bin', weights, stored: lambdas, weightDecay: 1e-4, lrLambda: 1e-4, constraintTerm: true, source, device: 'cpu'});
  const rng = new Rng(3);
  const x = Float32Array.from({length: batch * c * h * w}, () => rng.normal());
  const y = Int32Array.from({length: batch}, () => Math.floor(rng.next() * 10));
  const times: number[] = [];
  let firstStepMs = 0;
  for (let i = 0; i <= steps; i++) {
    const t = process.hrtime.bigint();
    await engine.step({x, y, count: batch}, 0, 1e-3);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (i > 0) times.push(ms);
    else firstStepMs = ms;
  }
  await engine.close();
  times.sort((a, b) => a - b);
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({msPerStep: times[Math.floor(times.length / 2)], firstStepMs, peakRssMB, backend: engine.backend, threads: os.availableParallelism()}) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
