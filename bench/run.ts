/**
 * `npm run bench`: the figures docs/BENCHMARKS.md records, measured in one run so they compare as ratios.
 *   1. sharp decode + transform images/s on full-size (500×375) JPEGs, against ONNX Runtime's ResNet-18 rate;
 *   2. forward-convolution GFLOP/s on one thread, ours (wasm) and PyTorch's, on ResNet-18/LeNet-5 shapes;
 *      PyTorch's CPU inference and reading a 100 MB PyTorch checkpoint;
 *   3. ONNX Runtime evaluation of our exported binary ResNet-18 (1 bit per weight), its float export and PyTorch's
 *      own float export, in alternating rounds;
 *   4. every --weights variant in a stock ONNX Runtime session against the float export (bench/stock.ts);
 *   5. --weights fast against float, batch 1 and 32 (bench/fast.ts);
 *   6. cbp against PyTorch through the fair harness (bench/fair.ts, bench/comparisons.ts): the binary CBP training
 *      step of LeNet-5, ResNet-18, and torchvision's MobileNetV2, ResNet-50 and EfficientNet-B0 (those three and the
 *      folder epoch where /usr/bin/python3 has torchvision), a whole `cbp train` LeNet-5 MNIST epoch and a whole
 *      ResNet-18 photo-folder epoch, each against PyTorch at its best, on a quiet machine, in ≥ 5 alternating rounds.
 *      The harness's flags pass through: `npm run bench -- --huge-pages both`, `-- --no-quiet-check` (unchecked).
 * BENCH_QUICK=1 shortens every timing loop.
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {loadBatches, type Sample} from '../src/data/imagefolder';
import {openSession, runBatch} from '../src/core/ort';
import {initialWeights} from '../src/train/init';
import {readPth, stateDict} from '../src/torch/load';
import {Rng} from '../src/core/rng';
import {getModel} from '../models/index';
import {writeOnnx} from '../onnx/writer';
import {makePhotos} from './photos';
import {allocatorEnv} from './train-env';
import {fairOptions, runComparisons, torchEnv} from './fair';
import {folderEpochComparison, lenetEpochComparison, pythonHas, STEP_MODELS, stepComparison} from './comparisons';

const ROOT = path.resolve(__dirname, '..', '..');
const QUICK = process.env.BENCH_QUICK === '1';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-bench-'));
const results: Record<string, unknown> = {machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`};

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}

async function decodeBench(): Promise<number> {
  const count = QUICK ? 64 : 256;
  const samples: Sample[] = (await makePhotos(path.join(tmp, 'photos'), [], count)).map((file) => ({file, label: 0}));
  const t = process.hrtime.bigint();
  let n = 0;
  for await (const b of loadBatches(samples, {transform: () => ({kind: 'eval', resize: 256, crop: 224}), batchSize: 32, layout: 'NCHW', size: 224})) n += b.count;
  const evalRate = n / (Number(process.hrtime.bigint() - t) / 1e9);
  const rng = new Rng(1);
  const t2 = process.hrtime.bigint();
  n = 0;
  for await (const b of loadBatches(samples, {transform: () => ({kind: 'train', crop: 224, rng}), batchSize: 32, layout: 'NHWC', size: 224})) n += b.count;
  const trainRate = n / (Number(process.hrtime.bigint() - t2) / 1e9);
  results.decode = {evalImagesPerSecond: evalRate, trainImagesPerSecond: trainRate, images: count, size: '500×375 JPEG q90', concurrency: 8};
  line('decode + eval transform (resize 256, crop 224), images/s', evalRate.toFixed(1));
  line('decode + train transform (random resized crop, flip), images/s', trainRate.toFixed(1));
  return evalRate;
}

/**
 * ONNX Runtime CPU throughput of several models, batch 32, measured in alternating rounds so that they see the same
 * machine (this shared machine's speed drifts by tens of percent over minutes); returns each model's per-round rates.
 */
async function ortRates(models: {label: string; bytes: Uint8Array}[]): Promise<Map<string, number[]>> {
  const rng = new Rng(2);
  const x = Float32Array.from({length: 32 * 3 * 224 * 224}, () => rng.normal());
  const sessions = [];
  for (const m of models) {
    const {session} = await openSession(m.bytes, 'cpu', m.label);
    await runBatch(session, x, [32, 3, 224, 224]);
    sessions.push({label: m.label, session});
  }
  const rates = new Map<string, number[]>(models.map((m) => [m.label, []]));
  const rounds = QUICK ? 1 : 3;
  const seconds = QUICK ? 2 : 4;
  for (let r = 0; r < rounds; r++) {
    for (const {label, session} of sessions) {
      const t = process.hrtime.bigint();
      let n = 0;
      while (Number(process.hrtime.bigint() - t) / 1e9 < seconds) {
        await runBatch(session, x, [32, 3, 224, 224]);
        n += 32;
      }
      rates.get(label)?.push(n / (Number(process.hrtime.bigint() - t) / 1e9));
    }
  }
  for (const {session} of sessions) await session.release();
  return rates;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function childJson(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, unknown> | undefined {
  const r = spawnSync(cmd, args, {encoding: 'utf8', maxBuffer: 1 << 24, env});
  if (r.status !== 0) {
    process.stdout.write(`  (${path.basename(cmd)} ${args.join(' ')} failed: ${(r.stderr || '').split('\n').slice(-3).join(' ')})\n`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const o = fairOptions(); // the harness's flags, checked before anything runs
  line('machine', results.machine as string);
  const decodeRate = await decodeBench();

  const spec = getModel('resnet18');
  const weights = initialWeights(spec, 'bin', 1);
  const binOnnx = writeOnnx(spec, 'bin', weights, 'auto', {});
  const floatOnnx = writeOnnx(spec, 'none', initialWeights(spec, 'none', 1), 'auto', {});
  const ortModels = [
    {label: 'resnet18_bin', bytes: binOnnx.bytes},
    {label: 'resnet18_float', bytes: floatOnnx.bytes},
  ];

  // The comparisons against PyTorch run last, through the fair harness (bench/fair.ts); this part needs torch only.
  const torchRef = path.join(ROOT, 'bench', 'torch_ref.py');
  const torch = pythonHas('torch');
  if (!torch) line('PyTorch reference', 'skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)');
  // PyTorch's side of these figures runs with the allocator of the comparisons (huge pages) and two threads.
  const pyEnv = torchEnv({threads: 2, memoryFormat: 'contiguous'}, allocatorEnv(true));

  // Per-core convolution throughput: what bounds the step ratio once both sides use every core.
  const convOurs = childJson(process.execPath, [path.join(__dirname, 'conv.js')]) as Record<string, number> | undefined;
  const convTorch = torch ? (childJson('/usr/bin/python3', [torchRef, 'conv', tmp], pyEnv) as Record<string, number> | undefined) : undefined;
  results.conv = {ours: convOurs, torch: convTorch};
  for (const name of Object.keys(convOurs ?? {})) {
    const o = (convOurs as Record<string, number>)[name];
    const t = convTorch?.[name];
    line(`conv GFLOP/s, 1 thread, ${name}`, `ours (wasm) ${o.toFixed(1)}${t !== undefined ? `; PyTorch ${t.toFixed(1)}: ${(t / o).toFixed(2)}× ours` : ''}`);
  }

  if (torch) {
    const infer = childJson('/usr/bin/python3', [torchRef, 'infer', tmp], pyEnv);
    const ck = childJson('/usr/bin/python3', [torchRef, 'ckpt', tmp], pyEnv);
    results.torch = {infer, ckpt: ck};
    if (infer) ortModels.push({label: 'resnet18_torch', bytes: fs.readFileSync(path.join(tmp, 'resnet18_torch.onnx'))});
    if (ck) {
      const file = path.join(tmp, 'ckpt100.pth');
      const size = fs.statSync(file).size;
      const t = process.hrtime.bigint();
      const sd = stateDict(readPth(file));
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      results.pthRead = {bytes: size, seconds: s, mbPerSecond: size / 1e6 / s, tensors: sd.size};
      line(`read a ${(size / 1e6).toFixed(0)} MB .pth (zip) into float32 tensors, MB/s`, (size / 1e6 / s).toFixed(0));
    }
  }
  const rates = await ortRates(ortModels);
  const ortBin = median(rates.get('resnet18_bin') as number[]);
  results.ort = Object.fromEntries([...rates].map(([k, v]) => [k, {imagesPerSecond: median(v), rounds: v}]));
  line('ORT CPU, our ResNet-18 bin export (1 bit per weight), batch 32, images/s', ortBin.toFixed(1));
  line('ORT CPU, our ResNet-18 float export, batch 32, images/s', median(rates.get('resnet18_float') as number[]).toFixed(1));
  line('decode rate / ORT ResNet-18 bin rate', `${(decodeRate / ortBin).toFixed(2)}×`);
  const torchRates = rates.get('resnet18_torch');
  const torchInfer = (results.torch as {infer?: {imagesPerSecond: number}} | undefined)?.infer?.imagesPerSecond;
  if (torchRates !== undefined && torchInfer !== undefined) {
    const ratios = torchRates.map((t, i) => (rates.get('resnet18_bin') as number[])[i] / t);
    line('ORT CPU on PyTorch\'s float ResNet-18 export, images/s', median(torchRates).toFixed(1));
    line('PyTorch CPU ResNet-18 float inference, batch 32, images/s (2 threads, no guard)', torchInfer.toFixed(1));
    line('  ours (bin, ORT) / PyTorch inference', `${(ortBin / torchInfer).toFixed(2)}×`);
    line('  ours (bin, ORT) / ORT on PyTorch\'s export, per round', ratios.map((r) => `${r.toFixed(2)}×`).join(' '));
  }
  // 4–5. The measurements with scripts of their own, each in its own process: exported files in a stock session
  // (every --weights variant against float) and --weights fast against float.
  const script = (name: string, args: readonly string[]): string => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', name), ...args], {encoding: 'utf8', maxBuffer: 1 << 26});
    if (r.status !== 0) return `failed: ${r.stderr.trim().split('\n').pop() ?? ''}`;
    return r.stdout.trim();
  };
  results.stock = script('stock.js', QUICK ? ['--pairs', '5'] : []);
  process.stdout.write(`${results.stock as string}\n`);
  results.fast = script('fast.js', QUICK ? ['--rounds', '3'] : []);
  process.stdout.write(`${results.fast as string}\n`);
  // 6. cbp against PyTorch, each comparison through the fair harness: the training steps of the six models, the
  // whole LeNet-5 MNIST epoch and the whole ResNet-18 photo-folder epoch.
  if (torch) {
    const torchvision = pythonHas('torchvision');
    const steps = STEP_MODELS.filter((m) => torchvision || m === 'lenet5' || m === 'resnet18' || m === 'vit');
    if (!torchvision) line('torchvision steps and the photo-folder epoch', 'skipped: /usr/bin/python3 has no torchvision');
    const comparisons = [
      ...steps.map((m) => stepComparison(m, o, tmp)),
      lenetEpochComparison(),
      ...(torchvision ? [folderEpochComparison(tmp, o.quick ? 32 : 128, o.quick ? 16 : 64)] : []),
    ];
    results.fair = await runComparisons(comparisons, o);
  }
  fs.writeFileSync(path.join(ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
  fs.rmSync(tmp, {recursive: true, force: true});
  process.stdout.write('results written to bench/results.json\n');
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
