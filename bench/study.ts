/**
 * `npm run study`: CBP against the simple alternatives, same model and epoch budget, evaluated through the
 * exported ONNX model in ONNX Runtime:
 *   round — post-training rounding of the float model to the levels (scale mean |w|), no training;
 *   roundbn — the same rounding, then batch norm's running statistics re-estimated on 10,240 training images (or --limit)
 *             (forward passes only; the weights stay as rounded);
 *   ste   — straight-through training: quantized forward, latent weights, clamp, no constraint term;
 *   cbp   — CBP.
 * Options (all optional): --data fashion-mnist --model lenet5 --seeds 1,2,3 --float-epochs 4 --epochs 3
 *   --quants bin,ter,1bit,2bit --methods round,roundbn,ste,cbp --limit N --batch-size 256 --out study/NAME --backend wasm
 *   --workers auto --width N (resnet and alexnet models: channels of the first layer) --lr-lambda 1e-4 --period 20 (CBP's multiplier schedule; the reference's defaults)
 *   --float-lr-drops 15 (epochs after which the float runs' learning rate drops ×0.1; default none, a constant 0.05)
 *   --float DIR: reuse float runs — DIR/float-s{seed} for each seed when present (an earlier study's --out),
 *   else DIR itself for the first seed.
 *   --onnx FILE: a float ONNX classifier (what torch.onnx.export writes; bench/make_vit.py writes the Fashion-MNIST study's ViT) in
 *   place of --model: imported once, full precision, into OUT/imported (kept there when a rerun finds it), and every
 *   float run starts from its weights (cbp train --init); the model is named after the file. Methods default to
 *   ste,cbp; roundbn (batch norm re-estimated on the TensorFlow.js engine) is refused.
 * Writes OUT/results.json and prints a Markdown table (mean ± std over seeds).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {evaluateOnnx} from '../src/eval/evaluate';
import {exportCheckpoint} from '../src/app/export';
import {initialSchedule} from '../src/cbp/schedule';
import {modelWeights, readCheckpoint, writeCheckpoint} from '../src/run/checkpoint';
import {Network} from '../src/train/tfjs/network';
import {initialScale} from '../src/cbp/scale';
import {recalibrateBatchNorm} from '../src/train/tfjs/recalibrate';
import {trainData, type TrainData} from '../src/train/tfjs/sources';
import {specOf} from '../src/run/spec-of';
import {train} from '../src/train/trainer';
import {SEED_QUANTS, type Quant} from '../models/spec';
import {checkModel} from '../models/index';
import {checkBackend} from '../src/core/backend-choice';
import {isQuant} from '../src/cbp/registry';
import {importOnnx} from '../src/app/import-onnx';
import {compareLevels, latentStats} from './levels';
import {studyTable, STUDY_METHODS, type StudyRow} from './study-rows';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** Post-training rounding: the float model's weights as the latent weights of a constrained model. */
function roundFrom(floatDir: string, quant: Quant, out: string): void {
  const ck = readCheckpoint(floatDir);
  const weights = new Map(modelWeights(ck.tensors));
  const config = {...ck.state.config, quant, epochs: 0, init: floatDir};
  // CBP's scale for every constrained layer: mean |w| of the float weights.
  for (const node of specOf(config).nodes) {
    if ((node.kind !== 'conv2d' && node.kind !== 'dense') || !node.constrained) continue;
    weights.set(`${node.name}.scale`, {shape: [1], data: Float32Array.of(initialScale(weights.get(`${node.name}.weight`)?.data ?? new Float32Array(0)))});
  }
  writeCheckpoint(out, {format: 'cbp-checkpoint', version: 1, config, epoch: 0, schedule: initialSchedule(), progress: [], backend: 'none'}, weights);
}

/** Rounding, then batch norm re-estimated for the rounded weights (src/train/tfjs/recalibrate.ts). */
async function roundBnFrom(roundDir: string, ds: TrainData, seed: number, out: string): Promise<void> {
  const ck = readCheckpoint(roundDir);
  const net = new Network(specOf(ck.state.config, ds.shape), ck.state.config.quant, modelWeights(ck.tensors));
  await recalibrateBatchNorm(net, ds, RECALIBRATION_IMAGES, 256, seed);
  // The checkpoint's latent weights with the re-estimated running statistics (the network holds quantized weights).
  writeCheckpoint(out, ck.state, new Map([...ck.tensors, ...net.toWeights((i) => i.key.endsWith('.running_mean') || i.key.endsWith('.running_var'))]));
  net.dispose();
}

const RECALIBRATION_IMAGES = 10_240;

async function evalOnnx(run: string, data: string): Promise<number> {
  const onnx = `${run}.onnx`;
  // Export's warnings (latent weights exactly on a midpoint, stored a level up) belong in the study's log.
  await exportCheckpoint({checkpoint: run, format: 'onnx', out: onnx, weights: 'auto', log: (l) => void process.stderr.write(`${run}: ${l}\n`)});
  return (await evaluateOnnx({onnx, data, device: 'cpu', batchSize: 500})).top1;
}

function checkConstraint(q: string): Quant {
  if (!isQuant(q)) throw new Error(`--quants: unknown constraint '${q}'`);
  return q;
}

/**
 * Trains a run, or continues it: a folder that already holds a checkpoint of the same run is resumed from its last
 * completed epoch (or left as it is when it has all its epochs), so a study stopped at any point restarts where it
 * stopped — long studies span several sessions.
 */
async function trainOrResume(opts: Parameters<typeof train>[0] & {epochs: number; out: string}, log: (l: string) => void): Promise<void> {
  if (fs.existsSync(path.join(opts.out, 'state.json'))) {
    const done = readCheckpoint(opts.out).state.epoch;
    if (done >= opts.epochs) {
      log(`${opts.out}: already trained ${done} of ${opts.epochs} epochs, kept`);
      return;
    }
    log(`${opts.out}: resuming after epoch ${done} of ${opts.epochs}`);
    await train({...opts, resume: opts.out, init: undefined});
    return;
  }
  await train(opts);
}

/**
 * --onnx FILE: the file imported with quant none into OUT/imported, once — a rerun (resuming the study) finds it there
 * and keeps it, so every run of the study, old and new, starts from the same weights. Returns the folder and the
 * model's name (the file's stem).
 */
async function importedModel(file: string, out: string, log: (l: string) => void): Promise<{dir: string; model: string}> {
  const dir = path.join(out, 'imported');
  if (fs.existsSync(path.join(dir, 'state.json'))) {
    const model = readCheckpoint(dir).state.config.model;
    log(`${dir}: imported earlier (${model}), kept`);
    return {dir, model};
  }
  const r = await importOnnx({file, out: dir, quant: 'none'});
  log(`${dir}: imported ${file} (${r.model}): ${r.layers} layers; constrained by CBP: ${r.constrained.join(', ')}; full precision: ${r.fullPrecision.join(', ')}`);
  return {dir, model: r.model};
}

async function main(): Promise<void> {
  const data = arg('data', 'fashion-mnist');
  const onnx = process.argv.includes('--onnx') ? arg('onnx', '') : undefined;
  for (const flag of ['--model', '--width']) {
    if (onnx !== undefined && process.argv.includes(flag)) throw new Error(`${flag}: --onnx ${onnx} carries its own architecture`);
  }
  const seeds = arg('seeds', '1,2,3').split(',').map(Number);
  const floatEpochs = Number(arg('float-epochs', '4'));
  const epochs = Number(arg('epochs', '3'));
  const quants = arg('quants', SEED_QUANTS.join(',')).split(',').map((q) => checkConstraint(q));
  const limit = process.argv.includes('--limit') ? Number(arg('limit', '0')) : undefined;
  const backend = checkBackend(arg('backend', 'auto'));
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  if (onnx === '') throw new Error('--onnx: expected an ONNX file');
  const out = arg('out', path.join('study', `${onnx !== undefined ? path.basename(onnx).replace(/\.onnx$/i, '') : arg('model', 'lenet5')}-${data}`));
  fs.mkdirSync(out, {recursive: true});
  const imported = onnx !== undefined ? await importedModel(onnx, out, log) : undefined;
  // A registered architecture, or (--onnx) the imported one, which runs name by their checkpoint (--init).
  const registryModel = imported === undefined ? checkModel(arg('model', 'lenet5')) : undefined;
  const model = imported?.model ?? registryModel;
  const reuse = process.argv.includes('--float') ? arg('float', '') : undefined;
  const methods = arg('methods', onnx !== undefined ? 'ste,cbp' : STUDY_METHODS.join(',')).split(',');
  for (const m of methods) if (!(STUDY_METHODS as readonly string[]).includes(m)) throw new Error(`--methods: unknown method '${m}', expected one of ${STUDY_METHODS.join(', ')}`);
  if (onnx !== undefined && methods.includes('roundbn')) throw new Error(`--methods roundbn: re-estimates batch norm on the TensorFlow.js engine, which an imported model (--onnx) need not run on; leave it out`);
  const workers = arg('workers', 'auto');
  const lrLambda = Number(arg('lr-lambda', '1e-4'));
  const period = Number(arg('period', '20'));
  const width = process.argv.includes('--width') ? Number(arg('width', '0')) : undefined;
  const floatLrDrops = process.argv.includes('--float-lr-drops') ? arg('float-lr-drops', '') : undefined;
  // The training images batch norm is re-estimated on: loaded once for every rounded model of the study.
  let recalibrationData: TrainData | undefined;
  const rows: StudyRow[] = [];
  const batchSize = Number(arg('batch-size', '256'));
  const common = {model: registryModel, data, limit, batchSize, lrLambda, weightDecay: 1e-4, period, backend, workers, log};
  for (const seed of seeds) {
    let floatDir = path.join(out, `float-s${seed}`);
    let t = Date.now();
    if (reuse !== undefined && fs.existsSync(path.join(reuse, `float-s${seed}`))) {
      floatDir = path.join(reuse, `float-s${seed}`);
    } else if (reuse !== undefined && seed === seeds[0]) {
      floatDir = reuse;
    } else {
      await trainOrResume({...common, quant: 'none', epochs: floatEpochs, lr: 0.05, lrDrops: floatLrDrops, seed, width, init: imported?.dir, out: floatDir}, log);
    }
    const floatSeconds = readCheckpoint(floatDir).state.progress.reduce((s, r) => s + r.seconds, 0);
    rows.push({seed, method: 'float', quant: 'none', top1: await evalOnnx(floatDir, data), seconds: floatSeconds || (Date.now() - t) / 1000});
    for (const quant of quants) {
      if (methods.includes('round') || methods.includes('roundbn')) {
        const r = path.join(out, `round-${quant}-s${seed}`);
        t = Date.now();
        roundFrom(floatDir, quant, r);
        if (methods.includes('round')) rows.push({seed, method: 'round', quant, top1: await evalOnnx(r, data), seconds: (Date.now() - t) / 1000, cfs: latentStats(r).cfs});
        if (methods.includes('roundbn')) {
          const rb = path.join(out, `roundbn-${quant}-s${seed}`);
          t = Date.now();
          recalibrationData ??= trainData(data, limit, () => undefined);
          await roundBnFrom(r, recalibrationData, seed, rb);
          rows.push({seed, method: 'roundbn', quant, top1: await evalOnnx(rb, data), seconds: (Date.now() - t) / 1000});
        }
      }
      for (const method of (['ste', 'cbp'] as const).filter((m) => methods.includes(m))) {
        const dir = path.join(out, `${method}-${quant}-s${seed}`);
        t = Date.now();
        await trainOrResume({...common, quant, method, epochs, lr: 1e-3, seed, init: floatDir, out: dir}, log);
        const row: StudyRow = {seed, method, quant, top1: await evalOnnx(dir, data), seconds: (Date.now() - t) / 1000, cfs: latentStats(dir).cfs};
        const steDir = path.join(out, `ste-${quant}-s${seed}`);
        const roundDir = path.join(out, `round-${quant}-s${seed}`);
        if (method === 'cbp' && fs.existsSync(steDir)) row.levelsVsSte = compareLevels(steDir, dir);
        if (method === 'cbp' && fs.existsSync(roundDir)) row.levelsVsRound = compareLevels(roundDir, dir);
        rows.push(row);
      }
      fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify({data, model, onnx: onnx ?? null, width: width ?? null, seeds, floatEpochs, floatLrDrops: floatLrDrops ?? null, epochs, limit: limit ?? null, backend, lrLambda, period, rows}, null, 2) + '\n');
    }
  }
  process.stdout.write(`\n${model} on ${data}, ${seeds.length} seed(s), float ${floatEpochs} epochs, ${epochs} epochs per method, CBP λ lr ${lrLambda} period ${period}; top-1 (%) in ONNX Runtime\n\n`);
  process.stdout.write(studyTable(rows, (r, other) => (other === 'ste' ? r.levelsVsSte : r.levelsVsRound)));
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
