/**
 * `npm run bench`: the figures docs/BENCHMARKS.md records, measured in one run so they compare as ratios.
 *   1. sharp decode + transform images/s on full-size (500×375) JPEGs, against ONNX Runtime's ResNet-18 rate;
 *   2. ONNX Runtime evaluation of our exported binary ResNet-18 (INT2) and of its float export;
 *   3. a CBP training step (LeNet-5 batch 256, ResNet-18 batch 32 at 224) on our default backend, each in its own
 *      process for its peak memory;
 *   4. with /usr/bin/python3 and torch: the same step in PyTorch, PyTorch's inference, ORT on PyTorch's own
 *      float export, and reading a 100 MB PyTorch checkpoint.
 * BENCH_QUICK=1 shortens every timing loop.
 */
import {execFileSync, spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {loadBatches, type Sample} from '../src/data/imagefolder';
import {openSession, runBatch} from '../src/eval/session';
import {initialWeights} from '../src/train/init';
import {readPth, stateDict} from '../src/torch/load';
import {Rng} from '../src/util/rng';
import {getModel} from '../models/index';
import {writeOnnx} from '../onnx/writer';

const ROOT = path.resolve(__dirname, '..', '..');
const QUICK = process.env.BENCH_QUICK === '1';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-bench-'));
const results: Record<string, unknown> = {machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`};

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}

async function decodeBench(): Promise<number> {
  const photos = fs.readdirSync(path.join(ROOT, 'test/fixtures/imagenet/val'), {recursive: true, encoding: 'utf8'})
    .filter((f) => f.endsWith('.JPEG') && !f.includes('truncated'))
    .map((f) => path.join(ROOT, 'test/fixtures/imagenet/val', f));
  const samples: Sample[] = [];
  const count = QUICK ? 64 : 256;
  for (let i = 0; i < count; i++) {
    const file = path.join(tmp, `img${i}.JPEG`);
    if (i < photos.length * 4) {
      const src = photos[i % photos.length];
      await sharp(src).resize(500, 375, {fit: 'cover'}).rotate(i % 4 === 0 ? 0 : 180).jpeg({quality: 90}).toFile(file);
    } else {
      fs.copyFileSync(path.join(tmp, `img${i % (photos.length * 4)}.JPEG`), file);
    }
    samples.push({file, label: 0});
  }
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

async function ortRate(bytes: Uint8Array, label: string): Promise<number> {
  const {session} = await openSession(bytes, 'cpu', label);
  const rng = new Rng(2);
  const x = Float32Array.from({length: 32 * 3 * 224 * 224}, () => rng.normal());
  await runBatch(session, x, [32, 3, 224, 224]);
  const t = process.hrtime.bigint();
  let n = 0;
  const seconds = QUICK ? 3 : 10;
  while (Number(process.hrtime.bigint() - t) / 1e9 < seconds) {
    await runBatch(session, x, [32, 3, 224, 224]);
    n += 32;
  }
  await session.release();
  return n / (Number(process.hrtime.bigint() - t) / 1e9);
}

function childJson(cmd: string, args: string[]): Record<string, unknown> | undefined {
  const r = spawnSync(cmd, args, {encoding: 'utf8', maxBuffer: 1 << 24});
  if (r.status !== 0) {
    process.stdout.write(`  (${path.basename(cmd)} ${args.join(' ')} failed: ${(r.stderr || '').split('\n').slice(-3).join(' ')})\n`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
}

function hasTorch(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  line('machine', results.machine as string);
  const decodeRate = await decodeBench();

  const spec = getModel('resnet18');
  const weights = initialWeights(spec, 'bin', 1);
  const binOnnx = writeOnnx(spec, 'bin', weights, 'auto', {});
  const floatOnnx = writeOnnx(spec, 'none', initialWeights(spec, 'none', 1), 'auto', {});
  const ortBin = await ortRate(binOnnx.bytes, 'resnet18_bin');
  const ortFloat = await ortRate(floatOnnx.bytes, 'resnet18_float');
  results.ort = {binImagesPerSecond: ortBin, floatImagesPerSecond: ortFloat, binBytes: binOnnx.bytes.length, floatBytes: floatOnnx.bytes.length};
  line('ORT CPU, our ResNet-18 bin export (1 bit per weight), batch 32, images/s', ortBin.toFixed(1));
  line('ORT CPU, our ResNet-18 float export, batch 32, images/s', ortFloat.toFixed(1));
  line('decode rate / ORT ResNet-18 bin rate', `${(decodeRate / ortBin).toFixed(2)}×`);

  const step = path.join(__dirname, 'step.js');
  const ours: Record<string, Record<string, unknown> | undefined> = {};
  for (const m of ['lenet5', 'resnet18']) {
    ours[m] = childJson(process.execPath, [step, m]);
    if (ours[m]) line(`CBP step ${m} on ${ours[m]?.backend} × ${ours[m]?.threads} threads, ms (peak MB)`, `${(ours[m]?.msPerStep as number).toFixed(0)} (${(ours[m]?.peakRssMB as number).toFixed(0)})`);
    if ((ours[m]?.threads as number) > 1) {
      // The same step on one thread, to show what splitting the batch over threads buys on this machine.
      const single = childJson(process.execPath, [step, m, 'auto', '1']);
      if (single) {
        line(`CBP step ${m} on ${single.backend} × 1 thread, ms (peak MB)`, `${(single.msPerStep as number).toFixed(0)} (${(single.peakRssMB as number).toFixed(0)})`);
        ours[`${m}-1thread`] = single;
      }
    }
  }
  results.step = ours;

  if (!hasTorch()) {
    line('PyTorch reference', 'skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)');
  } else {
    const ref = childJson('/usr/bin/python3', [path.join(ROOT, 'bench', 'torch_ref.py'), tmp]);
    results.torch = ref;
    if (ref) {
      for (const m of ['lenet5', 'resnet18']) {
        const p = ref[m] as {msPerStep: number; peakRssMB: number};
        const o = ours[m] as {msPerStep: number; peakRssMB: number} | undefined;
        line(`PyTorch CBP step ${m}, ms (peak MB)`, `${p.msPerStep.toFixed(0)} (${p.peakRssMB.toFixed(0)})`);
        if (o) line(`  ours / PyTorch: time, peak memory`, `${(o.msPerStep / p.msPerStep).toFixed(2)}×, ${(o.peakRssMB / p.peakRssMB).toFixed(2)}×`);
      }
      const torchInfer = (ref.infer as {imagesPerSecond: number}).imagesPerSecond;
      const ortTorch = await ortRate(fs.readFileSync(path.join(tmp, 'resnet18_torch.onnx')), 'resnet18_torch');
      results.ortOnTorchExport = ortTorch;
      line('PyTorch CPU ResNet-18 float inference, batch 32, images/s', torchInfer.toFixed(1));
      line('ORT CPU on PyTorch\'s float ResNet-18 export, images/s', ortTorch.toFixed(1));
      line('  ours (bin, ORT) / PyTorch inference', `${(ortBin / torchInfer).toFixed(2)}×`);
      line('  ours (bin, ORT) / ORT on PyTorch\'s export', `${(ortBin / ortTorch).toFixed(2)}×`);
      const ck = path.join(tmp, 'ckpt100.pth');
      const size = fs.statSync(ck).size;
      const t = process.hrtime.bigint();
      const sd = stateDict(readPth(ck));
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      results.pthRead = {bytes: size, seconds: s, mbPerSecond: size / 1e6 / s, tensors: sd.size};
      line(`read a ${(size / 1e6).toFixed(0)} MB .pth (zip) into float32 tensors, MB/s`, (size / 1e6 / s).toFixed(0));
    }
  }
  fs.writeFileSync(path.join(ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
  fs.rmSync(tmp, {recursive: true, force: true});
  process.stdout.write('results written to bench/results.json\n');
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
