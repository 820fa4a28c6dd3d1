/**
 * `node dist/bench/torchvision-matrix.js DIR [--write]`: torchvision's classification models through `cbp import`
 * and one CBP step, against PyTorch. DIR holds what test/fixtures/scripts/torchvision_matrix.py wrote: each model as
 * torch.onnx.export wrote it (batch norms kept, 10 classes) and one ternary CBP step of the module in PyTorch. For
 * each: the import (the importer's own check: the float export's logits against ONNX Runtime's on the file), the
 * constrained layers (the same as the PyTorch step's), then the step on the ONNX Runtime engine from the same λ,
 * momentum, batch and weights, and the largest difference of every tensor after it, relative to that tensor's
 * largest value. --write puts the table into docs/IMPORT.md between its markers.
 *
 * --folder DIR (an image folder: DIR/train, DIR/val, 10 class folders) also runs, for each model, the commands a
 * user types: `cbp train --init` of the imported run for one ternary epoch on the ONNX Runtime engine (batch 8),
 * `cbp export` of it and `cbp eval` of the file on DIR/val, and compares the top-1 the training printed with the
 * exported file's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {spawnSync} from 'node:child_process';
import {importOnnx} from '../src/app/import-onnx';
import {writeDocBlock} from './doc-block';
import {readCheckpoint, modelWeights, LAMBDA_PREFIX, MOMENTUM_PREFIX} from '../src/run/checkpoint';
import {decodeSafetensors} from '../src/run/safetensors';
import {readBytes} from '../src/core/read';
import {createOrtEngine} from '../src/train/ort/engine';
import {isQuant} from '../src/cbp/registry';
import type {Tensor32} from '../src/core/weights';
import {shapeOnlySource} from '../test/engine-helpers';
import type {StepMeta} from '../test/unit/cbp/torch-fixture';

const ROOT = path.resolve(__dirname, '..', '..');

/** The largest |a − b| over the largest |b|. */
function relative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let largest = 1e-12;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    largest = Math.max(largest, Math.abs(b[i]));
  }
  return a.length === b.length ? worst / largest : Infinity;
}

/** `cbp ARGS --json`, its parsed output (throws with its stderr when it fails). */
function cli<T>(args: readonly string[]): T {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args, '--json'], {encoding: 'utf8', maxBuffer: 1 << 26});
  if (r.status !== 0) throw new Error(`cbp ${args.join(' ')}: ${r.stderr.replace(/\s+/g, ' ').slice(0, 300)}`);
  return JSON.parse(r.stdout) as T;
}

/** One epoch on the folder, the export, its evaluation: the training's top-1, the file's, and the epoch's seconds. */
function epochOnFolder(run: string, folder: string): string {
  const trained = `${run}-ter`;
  const t = Date.now();
  const r = cli<{epochs: {top1: number; seconds?: number}[]}>(['train', '--init', run, '--quant', 'ter', '--data', folder, '--epochs', '1', '--batch-size', '8', '--engine', 'onnxruntime', '--out', trained, '--no-plot']);
  const seconds = (Date.now() - t) / 1000;
  const file = `${trained}.onnx`;
  cli(['export', '--checkpoint', trained, '--out', file]);
  const e = cli<{top1: number; images: number}>(['eval', '--onnx', file, '--data', folder]);
  const top1 = r.epochs[0].top1;
  return `${(top1 * 100).toFixed(1)}% / ${(e.top1 * 100).toFixed(1)}% (${e.images} images)${top1 === e.top1 ? '' : ' **differ**'}, ${seconds.toFixed(0)} s`;
}

async function one(dir: string, name: string, folder: string | undefined): Promise<string> {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8')) as StepMeta;
  if (!isQuant(meta.quant)) throw new Error(`${name}: unknown constraint ${meta.quant}`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `cbp-matrix-${name}-`));
  const t0 = Date.now();
  const imported = await importOnnx({file: path.join(dir, `${name}.onnx`), out, quant: meta.quant});
  const importSeconds = (Date.now() - t0) / 1000;
  const sameLayers = imported.constrained.join(',') === meta.constrained.join(',');
  const ck = readCheckpoint(out);
  const spec = ck.state.config.spec;
  if (spec === undefined) throw new Error(`${name}: no spec`);
  // readBytes reads past 2 GiB (VGG-11's step with its float64 copy is 2.6 GB).
  const st = decodeSafetensors(readBytes(path.join(dir, `${name}.safetensors`)), name).tensors;
  const group = (g: string, prefix = ''): Map<string, Tensor32> =>
    new Map([...st].filter(([k]) => k.startsWith(`${g}/`)).map(([k, t]) => [prefix + k.slice(g.length + 1), t]));
  const stored = new Map([...group('lambda', LAMBDA_PREFIX), ...group('momentum', MOMENTUM_PREFIX)]);
  const e = await createOrtEngine({spec, quant: meta.quant, weights: modelWeights(ck.tensors), stored, weightDecay: meta.weight_decay, lrLambda: 1e-4, constraintTerm: true, source: shapeOnlySource(spec.inputShape, spec.numClasses), device: 'cpu'});
  try {
    const x = st.get('x');
    if (x === undefined) throw new Error(`${name}: no batch`);
    const t1 = Date.now();
    const r = await e.step({x: Float32Array.from(x.data), y: Int32Array.from(meta.labels), count: meta.labels.length}, meta.ucs, meta.lr, meta.seed);
    const stepSeconds = (Date.now() - t1) / 1000;
    const state = e.state();
    // Each tensor of cbp's step against a group of PyTorch's (a missing or mis-sized tensor counts as infinitely far).
    const distances = (g: string): [string, number][] => [...group(g)].map(([key, t]) => [key, relative(state.get(key)?.data ?? [], t.data)]);
    const worstOf = (ds: readonly [string, number][]): [number, string] => ds.reduce<[number, string]>((w, [key, d]) => (d > w[0] ? [d, key] : w), [0, '']);
    const fromTorch = distances('after');
    const [weights, worstTensor] = worstOf(fromTorch);
    // Tensors where cbp differs from PyTorch by more than 1e-5 and more than PyTorch differs from itself.
    let beyondNoise = 0;
    for (const [key, d] of fromTorch) {
      const own = meta.sensitivity?.[key];
      if (d > 1e-5 && (own === undefined || d > own)) beyondNoise++;
      if (process.env.MATRIX_DEBUG) process.stderr.write(`${key} ${d.toExponential(2)} (PyTorch vs itself ${own?.toExponential(2) ?? '–'})\n`);
    }
    const own = meta.sensitivity?.[worstTensor];
    const pytorchWorst = Math.max(0, ...Object.values(meta.sensitivity ?? {}));
    // Both float32 steps against the float64 one: cbp's worst tensor and PyTorch's, and the tensors where cbp is
    // more than twice as far from it as PyTorch is (and more than 1e-5).
    const fromExact = distances('float64_after');
    const [cbpExact, cbpExactTensor] = worstOf(fromExact);
    let farther = 0;
    const torchExact = Math.max(0, ...Object.values(meta.float64_distance ?? {}));
    for (const [key, d] of fromExact) {
      const theirs = meta.float64_distance?.[key] ?? 0;
      if (d > Math.max(1e-5, 2 * theirs)) farther++;
      if (process.env.MATRIX_DEBUG) process.stderr.write(`${key} from float64: cbp ${d.toExponential(2)}, PyTorch ${theirs.toExponential(2)}\n`);
    }
    const exactCell = meta.float64_distance === undefined ? '–' : `${cbpExact.toExponential(1)} (${cbpExactTensor}) / ${torchExact.toExponential(1)}${farther > 0 ? `; **${farther} tensors > 2× PyTorch's**` : ''}`;
    let momentum = 0;
    for (const [key, t] of group('momentum_after')) momentum = Math.max(momentum, relative(state.get(MOMENTUM_PREFIX + key)?.data ?? [], t.data));
    const kinds = [...new Set(spec.nodes.map((n) => n.kind))].sort().join(', ');
    const epoch = folder === undefined ? '' : ` ${epochOnFolder(out, folder)} |`;
    const imports = imported.maxDifference <= 1e-4 * Math.max(1, imported.maxLogit) && sameLayers;
    const verdict = !imports || Math.abs(r.loss - meta.loss) > 1e-5 * Math.max(1, meta.loss) ? '**no**' : weights <= 1e-5 ? 'yes, ≤ 1e-5'
      : meta.float64_distance !== undefined ? (farther === 0 ? 'yes, as near the float64 step as PyTorch' : `**${farther} tensors farther from float64**`)
      : beyondNoise === 0 ? 'yes, ≤ PyTorch vs itself' : `**${beyondNoise} tensors beyond**`;
    return `| ${name} | ${imported.layers} | ${imported.constrained.length}${sameLayers ? '' : ' (differ)'} | ${(imported.maxDifference / Math.max(1e-12, imported.maxLogit)).toExponential(1)} | ` +
      `${Math.abs(r.loss - meta.loss).toExponential(1)} | ${weights.toExponential(1)} (${worstTensor}; PyTorch vs itself ${own?.toExponential(1) ?? '–'}) | ${pytorchWorst.toExponential(1)} | ${exactCell} | ${momentum.toExponential(1)} | ${importSeconds.toFixed(1)} / ${stepSeconds.toFixed(1)} | ${verdict} |${epoch} ${kinds} |`;
  } finally {
    await e.close();
    for (const p of [out, `${out}-ter`, `${out}-ter.onnx`]) fs.rmSync(p, {recursive: true, force: true});
  }
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: torchvision-matrix DIR [--write] [MODEL ...]');
  const at = process.argv.indexOf('--folder');
  const folder = at > 0 ? process.argv[at + 1] : undefined;
  const only = process.argv.slice(3).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--folder');
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).filter((n) => only.length === 0 || only.includes(n)).sort();
  const rows = [
    `| model | layers | constrained | import: logits off (of largest) | step: loss off | step: worst tensor off (of its largest) | PyTorch vs itself, worst tensor | from the float64 step, worst tensor: cbp / PyTorch | momentum off | import / step s | same step |${folder !== undefined ? ' one epoch on a folder: top-1 training / export |' : ''} node kinds |`,
    `|---|---|---|---|---|---|---|---|---|---|---|${folder !== undefined ? '---|' : ''}---|`,
  ];
  for (const name of names) {
    let row: string;
    try {
      row = await one(dir, name, folder);
    } catch (err) {
      row = `| ${name} | – | – | – | – | – | – | – | – | – | **no** |${folder !== undefined ? ' – |' : ''} ${(err instanceof Error ? err.message : String(err)).replace(/\|/g, '/').slice(0, 300)} |`;
    }
    process.stdout.write(`${row}\n`);
    rows.push(row);
  }
  const table = `${rows.join('\n')}\n\nMachine: ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}.`;
  if (process.argv.includes('--write')) {
    writeDocBlock(path.join(ROOT, 'docs', 'IMPORT.md'), 'torchvision-matrix', `${table}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
