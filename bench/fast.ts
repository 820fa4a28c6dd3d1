/**
 * `--weights fast` against `--weights float` (and `auto`) of the same weights, each file opened as a deployer opens
 * it: `ort.InferenceSession.create(file)` with default options (`--threads N` sets only intraOpNumThreads, for a
 * shared machine; the graph ONNX Runtime runs is the stock one either way). Untrained ImageNet-shaped models (latency
 * does not depend on the values), batch 1 and 32. Every round runs each side once, the order reversed every round;
 * the table gives each side's median and the median of the rounds' ratios to float. Out of curiosity it also runs
 * the fast file with MatMulNBits's accuracy_level 4 (int8 activations, not exact, not offered by `cbp export`) and
 * gives how far its logits are from the float export's. Prints a Markdown table; `--write` puts it into
 * docs/DEPLOY.md between its `fast` markers.
 *
 *   npm run build && node dist/bench/fast.js [--write] [--models alexnet,resnet18] [--quant ter] [--batches 1,32] [--rounds 11] [--threads 1]
 *
 * `--models` also takes float ONNX classifiers (what torch.onnx.export writes, e.g. bench/make_vit.py's vision
 * transformer): each `.onnx` is imported by cbp with the constraint and measured at its own input shape, with the
 * weights the file holds; the file itself is measured beside cbp's exports.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {performance} from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import {errorMessage} from '../src/core/errors';
import {Rng} from '../src/core/rng';
import {initialWeights} from '../src/train/init';
import {getModel, isModelName, type ModelSpec} from '../models/index';
import type {Weights} from '../src/core/weights';
import {importOnnx} from '../src/app/import-onnx';
import {modelWeights, readCheckpoint} from '../src/run/checkpoint';
import {specOf} from '../src/run/spec-of';
import {isQuant} from '../src/cbp/registry';
import type {Quant} from '../models/spec';
import {decodeOnnx} from '../onnx/reader';
import {ModelProto, type ModelMsg} from '../onnx/schema';
import {writeOnnx, type WeightFormat} from '../onnx/writer';
import {writeDocBlock} from './doc-block';
import {count, median, option} from './args';
import {GAP_MS, sideTime} from './alternate';

const ROOT = path.resolve(__dirname, '..', '..');
/** The side that is the `.onnx` file given in --models itself, unconstrained. */
const SOURCE = 'the file given (float weights)';

/** Runs per side and round at batch 1, their median counted (sideTime). */
const BURST = 10;

/** The fast file with every MatMulNBits at another accuracy_level (the bench's curiosity; cbp writes 0). */
function withAccuracyLevel(bytes: Uint8Array, level: number): Uint8Array {
  const model: ModelMsg = decodeOnnx(bytes, 'fast');
  for (const n of model.graph.node) {
    if (n.op_type !== 'MatMulNBits') continue;
    const a = n.attribute.find((x) => x.name === 'accuracy_level');
    if (a === undefined) throw new Error(`${n.name}: no accuracy_level`);
    a.i = level;
  }
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

interface Side {
  readonly name: string;
  readonly bytes: number;
  readonly session: ort.InferenceSession;
  readonly loadS: number;
}

/** A registry model untrained at 224×224, or a float ONNX file imported with the constraint (its own weights). */
async function modelOf(name: string, quant: Quant, tmp: string): Promise<{model: string; spec: ModelSpec; weights: Weights}> {
  if (isModelName(name)) {
    const spec = getModel(name, 1000, [3, 224, 224]);
    return {model: name, spec, weights: initialWeights(spec, quant, 1)};
  }
  if (!name.endsWith('.onnx')) throw new Error(`--models: '${name}' is neither a built-in model nor an .onnx file`);
  const dir = path.join(tmp, `${path.basename(name, '.onnx')}-run`);
  await importOnnx({file: name, out: dir, quant});
  const ck = readCheckpoint(dir);
  return {model: path.basename(name, '.onnx'), spec: specOf(ck.state.config), weights: modelWeights(ck.tensors)};
}

async function main(): Promise<void> {
  const models = option('--models', 'alexnet,resnet18').split(',');
  const quantName = option('--quant', 'ter');
  if (!isQuant(quantName)) throw new Error(`--quant ${quantName}: not a constraint`);
  const quant: Quant = quantName;
  const batches = option('--batches', '1,32').split(',').map(Number);
  const rounds = count('--rounds', 11);
  if (rounds < 3) throw new Error('--rounds: at least 3');
  const threads = count('--threads', 0, 0);
  const options: ort.InferenceSession.SessionOptions = threads > 0 ? {intraOpNumThreads: threads} : {};
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-fast-'));
  const rows: string[][] = [];
  const notes: string[] = [];
  try {
    for (const name of models) {
      const {model, spec, weights} = await modelOf(name, quant, tmp);
      const files: [string, Uint8Array][] = [];
      for (const format of ['float', 'auto', 'fast'] satisfies WeightFormat[]) files.push([format, writeOnnx(spec, quant, weights, format, {}).bytes]);
      const fastBytes = files[2][1];
      const hasNBits = decodeOnnx(fastBytes, 'fast').graph.node.some((n) => n.op_type === 'MatMulNBits');
      if (hasNBits) files.push(['fast, accuracy_level 4', withAccuracyLevel(fastBytes, 4)]);
      else notes.push(`In ${model} no constrained dense layer runs on features (one row per sample; token-wise ones stay as auto stores them), so its fast graph is the auto graph (${Buffer.compare(Buffer.from(files[1][1]), Buffer.from(fastBytes)) === 0 ? 'identical bytes' : 'same graph, the card says fast'})`);
      // A model brought as an ONNX file is also measured as that file (its own float weights, so its logits are not
      // compared): does cbp's export run as fast as what the user exported?
      if (name.endsWith('.onnx')) files.push([SOURCE, fs.readFileSync(name)]);
      const sides: Side[] = [];
      for (const [side, bytes] of files) {
        const file = path.join(tmp, `${model}-${side.replace(/\W+/g, '_')}.onnx`);
        fs.writeFileSync(file, bytes);
        const t0 = performance.now();
        const session = await ort.InferenceSession.create(file, options);
        sides.push({name: side, bytes: bytes.length, session, loadS: (performance.now() - t0) / 1000});
        fs.rmSync(file);
      }
      for (const batch of batches) {
        const rng = new Rng(3);
        const [c, h, w] = spec.inputShape;
        const x = new ort.Tensor('float32', Float32Array.from({length: batch * c * h * w}, () => rng.normal()), [batch, c, h, w]);
        const run = async (s: Side): Promise<{ms: number; y: Float32Array}> => {
          const t0 = performance.now();
          const out = await s.session.run({[s.session.inputNames[0]]: x});
          const ms = performance.now() - t0;
          const y = out[s.session.outputNames[0]].data;
          if (!(y instanceof Float32Array)) throw new Error('no float32 logits');
          return {ms, y};
        };
        // One warm-up run each, which also gives the logits to compare.
        const logits: Float32Array[] = [];
        for (const s of sides) logits.push((await run(s)).y);
        const times: number[][] = sides.map(() => []);
        // Each side waits for the previous session's threads to park, then counts a burst at batch 1 (sideTime).
        const burst = batch === 1 ? BURST : 1;
        const side = async (s: Side): Promise<number> => sideTime(async () => (await run(s)).ms, burst);
        for (let r = 0; r < rounds; r++) {
          const order = sides.map((_, i) => (r % 2 === 0 ? i : sides.length - 1 - i));
          for (const i of order) times[i].push(await side(sides[i]));
        }
        const reference = logits[0];
        let largest = 0;
        for (const v of reference) largest = Math.max(largest, Math.abs(v));
        for (let i = 0; i < sides.length; i++) {
          let diff = 0;
          for (let j = 0; j < reference.length; j++) diff = Math.max(diff, Math.abs(logits[i][j] - reference[j]));
          const ratio = median(times[i].map((t, j) => t / times[0][j]));
          const row = [model, String(batch), sides[i].name, String(sides[i].bytes), median(times[i]).toFixed(1), `${ratio.toFixed(2)}×`, sides[i].loadS.toFixed(2), i === 0 || sides[i].name === SOURCE ? '—' : (diff / Math.max(1, largest)).toExponential(1)];
          rows.push(row);
          process.stderr.write(`${row.join(' | ')}\n`);
        }
      }
      for (const s of sides) await s.session.release();
    }
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
  const header = ['model', 'batch', '--weights', 'bytes', 'median ms', 'median ratio to float', 'load s', 'logits: largest difference from float / max(1, largest logit)'];
  const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const cpu = os.cpus();
  const stamp = `Measured ${new Date().toISOString().slice(0, 10)} by \`node dist/bench/fast.js --write${process.argv.slice(2).filter((a) => a !== '--write').map((a) => ` ${a}`).join('')}\` (${quant}, untrained, ${rounds} rounds in alternating order, each side after ${GAP_MS} ms idle, at batch 1 the median of ${BURST} runs; sessions with default options${threads > 0 ? ` but intraOpNumThreads ${threads}` : ''}; onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, Node ${process.version}, ${cpu[0]?.model.trim() ?? 'CPU'}, ${cpu.length} cores shared with other work).`;
  const block = `${stamp}${notes.map((n) => ` ${n}.`).join('')}\n\n${table}\n`;
  process.stdout.write(block);
  if (process.argv.includes('--write')) {
    writeDocBlock(path.join(ROOT, 'docs', 'DEPLOY.md'), 'fast', block);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(1);
});
