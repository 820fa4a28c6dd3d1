/**
 * Batch-1 latency of every `--weights` variant against the float export of the same weights, each opened the way a
 * deployer opens a file: `ort.InferenceSession.create(path)`, no options. Untrained AlexNet and ResNet-18
 * (ImageNet-shaped, 1000 classes; latency does not depend on the values) for bin, ter, 1bit and 2bit. For each variant
 * the two sessions stay open and run in adjacent pairs (each side a burst of runs after the other's threads park), the order flipped every pair; the table gives the median of
 * the pairs' ratios (variant / float), and the stamp the float export's median latency. It
 * also checks that the variant's logits equal the float export's. Prints a Markdown table; `--write` puts it into
 * docs/DEPLOY.md between its `stock` markers.
 *
 *   npm run build && node dist/bench/stock.js [--write] [--models alexnet,resnet18] [--pairs 10]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {performance} from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import {errorMessage} from '../src/core/errors';
import {Rng} from '../src/core/rng';
import {initialWeights} from '../src/train/init';
import {getModel, isModelName, type ModelName} from '../models/index';
import type {Quant} from '../models/spec';
import {codesFit} from '../src/cbp/codes';
import {writeOnnx, type WeightFormat} from '../onnx/writer';
import {writeDocBlock} from './doc-block';
import {count, median, option} from './args';
import {GAP_MS, sideTime} from './alternate';

const ROOT = path.resolve(__dirname, '..', '..');
const QUANTS: readonly Quant[] = ['bin', 'ter', '1bit', '2bit'];
const FORMATS: readonly WeightFormat[] = ['auto', 'int2', 'int8'];
/** Runs per side and pair, their median counted (sideTime). */
const BURST = 10;

interface Row {
  readonly model: ModelName;
  readonly quant: Quant;
  readonly format: WeightFormat;
  readonly storage: string;
  readonly bytes: number;
  readonly floatMs: number;
  readonly variantMs: number;
  readonly ratio: number;
  readonly loadS: number;
  readonly floatLoadS: number;
  readonly diff: number;
}

interface Side {
  readonly session: ort.InferenceSession;
  readonly loadS: number;
}

async function open(file: string): Promise<Side> {
  const t0 = performance.now();
  // Exactly what a deployer writes: no session options at all.
  const session = await ort.InferenceSession.create(file);
  return {session, loadS: (performance.now() - t0) / 1000};
}

async function logits(side: Side, x: ort.Tensor): Promise<Float32Array> {
  const out = await side.session.run({[side.session.inputNames[0]]: x});
  const data = out[side.session.outputNames[0]].data;
  if (!(data instanceof Float32Array)) throw new Error('the model does not output float32 logits');
  return Float32Array.from(data);
}

/** Milliseconds of one run. */
async function once(side: Side, x: ort.Tensor): Promise<number> {
  const t0 = performance.now();
  await side.session.run({[side.session.inputNames[0]]: x});
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const models = option('--models', 'alexnet,resnet18').split(',');
  const pairs = count('--pairs', 10);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-stock-'));
  const rows: Row[] = [];
  try {
    for (const name of models) {
      if (!isModelName(name)) throw new Error(`--models: unknown model '${name}'`);
      const model: ModelName = name;
      const spec = getModel(model, 1000, [3, 224, 224]);
      const rng = new Rng(3);
      const x = new ort.Tensor('float32', Float32Array.from({length: 3 * 224 * 224}, () => rng.normal()), [1, 3, 224, 224]);
      for (const quant of QUANTS) {
        const weights = initialWeights(spec, quant, 1);
        const floatFile = path.join(tmp, `${model}-${quant}-float.onnx`);
        fs.writeFileSync(floatFile, writeOnnx(spec, quant, weights, 'float', {}).bytes);
        const float = await open(floatFile);
        const reference = await logits(float, x);
        for (const format of FORMATS) {
          if (format === 'int2' && !codesFit(quant, 2)) continue;
          const written = writeOnnx(spec, quant, weights, format, {});
          const file = path.join(tmp, `${model}-${quant}-${format}.onnx`);
          fs.writeFileSync(file, written.bytes);
          const variant = await open(file);
          const y = await logits(variant, x);
          let diff = 0;
          for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i] - reference[i]));
          await once(float, x);
          await once(variant, x);
          // Runs in adjacent pairs, the order flipped every pair: a burst of other work on a shared machine then
          // slows both sides of the pairs it hits, and the median of the pair ratios ignores it. Each side waits for
          // the other session's threads to park and counts a burst (sideTime), as one session runs alone.
          const side = (s: Side): Promise<number> => sideTime(() => once(s, x), BURST);
          const f: number[] = [];
          const v: number[] = [];
          for (let i = 0; i < pairs; i++) {
            if (i % 2 === 0) {
              f.push(await side(float));
              v.push(await side(variant));
            } else {
              v.push(await side(variant));
              f.push(await side(float));
            }
          }
          const storage = written.layers.find((l) => l.constrained)?.storage ?? 'float32';
          const row: Row = {model, quant, format, storage, bytes: written.bytes.length, floatMs: median(f), variantMs: median(v), ratio: median(v.map((t, i) => t / f[i])), loadS: variant.loadS, floatLoadS: float.loadS, diff};
          rows.push(row);
          process.stderr.write(`${model} ${quant} ${format} (${storage}): ${row.bytes} bytes, float ${row.floatMs.toFixed(1)} ms, variant ${row.variantMs.toFixed(1)} ms, ${row.ratio.toFixed(2)}×, load ${row.loadS.toFixed(2)} s (float ${row.floatLoadS.toFixed(2)} s), logits ${diff === 0 ? 'identical' : `differ by ${diff.toExponential(1)}`}\n`);
          await variant.session.release();
          fs.rmSync(file);
        }
        await float.session.release();
        fs.rmSync(floatFile);
      }
    }
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
  // One row per variant, a column group per model: the ratio is what a deployer compares; the load time is where the
  // dequantization went.
  const keys = [...new Set(rows.map((r) => `${r.quant}|${r.format}`))];
  const header = ['constraint', '--weights (storage)', ...models.flatMap((m) => [`${m}: bytes`, `${m}: variant / float`, `${m}: load s`])];
  const body = keys.map((k) => {
    const of = rows.filter((r) => `${r.quant}|${r.format}` === k);
    return [of[0].quant, `${of[0].format} (${of[0].storage})`, ...models.flatMap((m) => {
      const r = of.find((o) => o.model === m);
      return r === undefined ? ['', '', ''] : [String(r.bytes), `${r.ratio.toFixed(2)}×`, r.loadS.toFixed(2)];
    })];
  });
  const table = [header, header.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const floats = models.map((m) => {
    const of = rows.filter((r) => r.model === m);
    return `${m} ${median(of.map((r) => r.floatMs)).toFixed(1)} ms (loads in ${median(of.map((r) => r.floatLoadS)).toFixed(2)} s)`;
  }).join(', ');
  const worst = Math.max(0, ...rows.map((r) => r.diff));
  const same = worst === 0 ? 'the logits of every variant equal the float export\'s' : `the logits of the variants differ from the float export's by up to ${worst.toExponential(1)}`;
  const cpu = os.cpus();
  const stamp = `Measured ${new Date().toISOString().slice(0, 10)} by \`node dist/bench/stock.js --write\` (${pairs} pairs in alternating order, batch 1, each side the median of ${BURST} runs after ${GAP_MS} ms idle; onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, Node ${process.version}, ${cpu[0]?.model.trim() ?? 'CPU'}, ${cpu.length} cores). The float export at batch 1: ${floats}; ${same}.`;
  const block = `${stamp}\n\n${table}\n`;
  process.stdout.write(block);
  if (process.argv.includes('--write')) {
    writeDocBlock(path.join(ROOT, 'docs', 'DEPLOY.md'), 'stock', block);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(1);
});
