/**
 * `--activations int8` against `--weights float` of the same weights, each file opened as a deployer opens it
 * (`ort.InferenceSession.create(path)`, no options), at batch 1 and batch 32: LeNet-5 (28×28, 10 classes),
 * AlexNet and ResNet-18 (224×224, 1000 classes) from their untrained initial weights, and torchvision's MobileNetV2
 * (224×224, 10 classes) through `cbp import` of the file PyTorch exports (needs /usr/bin/python3 with torchvision;
 * left out, and said so, without it). Latency does not depend on the weights' values; the int8 file is calibrated
 * on 32 standard-normal images (as these models have no data), which sets its scales but not its speed. For each pair
 * the two sessions stay open and run in adjacent pairs (at batch 1 each side a burst of runs), the order flipped every pair; the table gives each side's
 * median and the median of the pairs' ratios (float / int8: the speed-up). `--write` puts it into docs/DEPLOY.md
 * between its `stock-int8` markers.
 *
 *   npm run build && node dist/bench/stock-int8.js [--write] [--models lenet5,alexnet,resnet18,mobilenet_v2] [--pairs 20] [--profile]
 *
 * `--profile` also splits each file's batch-1 time by class of layer (ONNX Runtime's profiler: depthwise, 1×1 and
 * other convolutions, dense layers, everything else), into the `stock-int8-profile` block with `--write`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {spawnSync} from 'node:child_process';
import {performance} from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import {errorMessage} from '../src/core/errors';
import {Rng} from '../src/core/rng';
import type {Weights} from '../src/core/weights';
import {initialWeights} from '../src/train/init';
import {readCheckpoint, modelWeights} from '../src/run/checkpoint';
import {specOf} from '../src/run/spec-of';
import {getModel, isModelName} from '../models/index';
import type {ModelSpec, Quant} from '../models/spec';
import {importOnnx} from '../src/app/import-onnx';
import {CONSTRAINTS} from '../src/cbp/registry';
import {exactWeights, planInt8, writeInt8} from '../onnx/int8';
import {calibrateRanges} from '../src/app/int8';
import {encodeModel, onnxModel} from '../onnx/writer';
import {writeDocBlock} from './doc-block';
import {LAYER_CLASSES, layerProfile, type LayerClass} from './layer-profile';
import {count, median, option} from './args';
import {GAP_MS, sideTime} from './alternate';
import {PY, TORCH_REF} from './fair';

const ROOT = path.resolve(__dirname, '..', '..');
/** Runs per side and pair at batch 1, their median counted (sideTime). */
const BURST = 20;
/** Runs ONNX Runtime's profiler averages each file's kernels over (`--profile`). */
const PROFILE_RUNS = 50;
/** The constraint each model is measured with: the pairs the done-when names (binary ResNet-18, ternary MobileNetV2). */
const QUANT: Record<string, Quant> = {lenet5: 'bin', alexnet: 'ter', resnet18: 'bin', mobilenet_v2: 'ter'};

interface Model {
  readonly name: string;
  readonly spec: ModelSpec;
  readonly weights: Weights;
  readonly quant: Quant;
}

async function load(name: string, tmp: string): Promise<Model | undefined> {
  const quant = QUANT[name] ?? 'bin';
  if (isModelName(name)) {
    const spec = name === 'lenet5' ? getModel(name, 10, [1, 28, 28]) : getModel(name, 1000, [3, 224, 224]);
    return {name, spec, weights: initialWeights(spec, quant, 1), quant};
  }
  const file = path.join(tmp, `${name}.onnx`);
  const py = spawnSync(PY, [TORCH_REF, 'export', name, file], {encoding: 'utf8'});
  if (py.status !== 0) {
    process.stderr.write(`${name}: left out (${PY} could not export it: ${py.stderr.trim().split('\n').pop() ?? ''})\n`);
    return undefined;
  }
  const dir = path.join(tmp, `${name}-run`);
  await importOnnx({file, out: dir, quant});
  const ck = readCheckpoint(dir);
  return {name, spec: specOf(ck.state.config), weights: modelWeights(ck.tensors), quant};
}

/** The float file and the int8 file of the same weights (int8 calibrated on standard-normal images). */
async function files(m: Model): Promise<{float: Uint8Array; int8: Uint8Array}> {
  const float = onnxModel(m.spec, m.quant, m.weights, 'float', {});
  const plan = planInt8(float.model, exactWeights(float.layers, m.weights, m.quant), () => false);
  const rng = new Rng(5);
  const pixels = m.spec.inputShape.reduce((a, c) => a * c, 1);
  async function* random(): AsyncGenerator<{x: Float32Array; count: number}> {
    for (let b = 0; b < 4; b++) yield {x: Float32Array.from({length: 8 * pixels}, () => rng.normal()), count: 8};
  }
  const {ranges} = await calibrateRanges(plan, m.spec, random(), 'minmax');
  return {float: encodeModel(float.model, m.name), int8: encodeModel(writeInt8(plan, ranges, process.argv.includes('--int8-codes') ? 'int8' : CONSTRAINTS[m.quant].storage).model, m.name)};
}

async function once(s: ort.InferenceSession, x: ort.Tensor): Promise<number> {
  const t0 = performance.now();
  await s.run({[s.inputNames[0]]: x});
  return performance.now() - t0;
}

interface Row {
  readonly model: string;
  readonly quant: Quant;
  readonly batch: number;
  readonly floatMs: number;
  readonly int8Ms: number;
  readonly speedup: number;
  readonly spread: string;
  readonly floatBytes: number;
  readonly int8Bytes: number;
}

async function main(): Promise<void> {
  const names = option('--models', 'lenet5,alexnet,resnet18,mobilenet_v2').split(',');
  const pairs = count('--pairs', 20);
  const batches = option('--batches', '1,32').split(',').map(Number);
  const loadBefore = os.loadavg()[0];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-stock-int8-'));
  const rows: Row[] = [];
  const left: string[] = [];
  const profile = process.argv.includes('--profile');
  const profiles: {model: string; quant: Quant; float: Map<LayerClass, number>; int8: Map<LayerClass, number>}[] = [];
  try {
    for (const name of names) {
      const m = await load(name, tmp);
      if (m === undefined) {
        left.push(name);
        continue;
      }
      const {float, int8} = await files(m);
      const paths = {float: path.join(tmp, `${name}-float.onnx`), int8: path.join(tmp, `${name}-int8.onnx`)};
      fs.writeFileSync(paths.float, float);
      fs.writeFileSync(paths.int8, int8);
      // Exactly what a deployer writes: no session options at all.
      const f = await ort.InferenceSession.create(paths.float);
      const q = await ort.InferenceSession.create(paths.int8);
      const rng = new Rng(3);
      for (const batch of batches) {
        const x = new ort.Tensor('float32', Float32Array.from({length: batch * m.spec.inputShape.reduce((a, c) => a * c, 1)}, () => rng.normal()), [batch, ...m.spec.inputShape]);
        await once(f, x);
        await once(q, x);
        const tf: number[] = [];
        const tq: number[] = [];
        // Each side waits for the other session's threads to park, then counts a burst at batch 1 (sideTime).
        const burst = batch === 1 ? BURST : 1;
        const side = (s: ort.InferenceSession): Promise<number> => sideTime(() => once(s, x), burst);
        const n = pairs;
        for (let i = 0; i < n; i++) {
          if (i % 2 === 0) {
            tf.push(await side(f));
            tq.push(await side(q));
          } else {
            tq.push(await side(q));
            tf.push(await side(f));
          }
        }
        const ratios = tf.map((t, i) => t / tq[i]).sort((a, b) => a - b);
        const row: Row = {
          model: name, quant: m.quant, batch, floatMs: median(tf), int8Ms: median(tq), speedup: median(ratios),
          spread: `${ratios[Math.floor(ratios.length / 4)].toFixed(2)}–${ratios[Math.floor((3 * ratios.length) / 4)].toFixed(2)}`,
          floatBytes: float.length, int8Bytes: int8.length,
        };
        rows.push(row);
        process.stderr.write(`${name} ${m.quant} batch ${batch}: float ${row.floatMs.toFixed(1)} ms, int8 ${row.int8Ms.toFixed(1)} ms, ${row.speedup.toFixed(2)}× (quartiles ${row.spread}), ${n} pairs\n`);
      }
      await f.release();
      await q.release();
      if (profile) {
        const x = new ort.Tensor('float32', Float32Array.from({length: m.spec.inputShape.reduce((a, c) => a * c, 1)}, () => rng.normal()), [1, ...m.spec.inputShape]);
        profiles.push({model: name, quant: m.quant, float: await layerProfile(paths.float, x, PROFILE_RUNS), int8: await layerProfile(paths.int8, x, PROFILE_RUNS)});
      }
    }
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
  const header = ['model', 'constraint', 'batch', '--weights float, ms', '--activations int8, ms', 'speed-up (median of pairs)', 'quartiles of the pairs', 'bytes float / int8'];
  const body = rows.map((r) => [r.model, r.quant, String(r.batch), r.floatMs.toFixed(1), r.int8Ms.toFixed(1), `${r.speedup.toFixed(2)}×`, r.spread, `${r.floatBytes} / ${r.int8Bytes}`]);
  const table = [header, header.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const cpu = os.cpus();
  const stamp = `Measured ${new Date().toISOString().slice(0, 10)} by \`node dist/bench/stock-int8.js --write\` (${pairs} pairs at each batch, each side of a batch-1 pair the median of a burst of ${BURST} runs, ${GAP_MS} ms idle before each side, alternating; onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, Node ${process.version}, ${cpu[0]?.model.trim() ?? 'CPU'}, ${cpu.length} cores; one-minute load average ${loadBefore.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} at the end, the benchmark's own threads included)${left.length > 0 ? `; left out: ${left.join(', ')} (no torchvision)` : ''}.`;
  const block = `${stamp}\n\n${table}\n`;
  process.stdout.write(block);
  if (process.argv.includes('--write')) writeDocBlock(path.join(ROOT, 'docs', 'DEPLOY.md'), 'stock-int8', block);
  if (profiles.length > 0) {
    const ms = (v: number | undefined): string => (v ?? 0).toFixed(2);
    const head = ['model', 'constraint', 'kernels', '--weights float, ms', '--activations int8, ms', 'float / int8'];
    // A class neither file spends 5 µs on is left out of the model's rows.
    const lines = profiles.flatMap((p) =>
      [...LAYER_CLASSES, 'all kernels' as const].flatMap((c) => {
        const sum = (t: Map<LayerClass, number>): number => (c === 'all kernels' ? [...t.values()].reduce((a, v) => a + v, 0) : (t.get(c) ?? 0));
        const [f, q] = [sum(p.float), sum(p.int8)];
        return Math.max(f, q) < 0.005 ? [] : [[p.model, p.quant, c, ms(f), ms(q), q > 0 ? `${(f / q).toFixed(2)}×` : '–']];
      }),
    );
    const profileBlock = `Measured ${new Date().toISOString().slice(0, 10)} by \`node dist/bench/stock-int8.js --profile --write\` (ONNX Runtime's profiler in a session with no other option, batch 1, the kernels' own times averaged over ${PROFILE_RUNS} runs; ${cpu[0]?.model.trim() ?? 'CPU'}, ${cpu.length} cores).\n\n${[head, head.map(() => '---'), ...lines].map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`;
    process.stdout.write(`\n${profileBlock}`);
    if (process.argv.includes('--write')) writeDocBlock(path.join(ROOT, 'docs', 'DEPLOY.md'), 'stock-int8-profile', profileBlock);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(1);
});
