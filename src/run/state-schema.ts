import {CbpError} from '../core/errors';
import {StateReader} from './state-reader';
import {readSpec} from './spec-schema';
import {isModelName} from '../../models/index';
import {isQuantOrNone} from '../cbp/registry';
import type {ScheduleState} from '../cbp/schedule';
import {TRAIN_METHODS, type EpochRecord, type RunConfig, type RunOrigin, type RunState} from './format';

/** More epochs than any run has: the bound keeps `plot` and `--resume` loops finite. */
export const MAX_EPOCHS = 100_000;
export const MAX_CLASSES = 100_000;
/** Largest input height/width and stem width a run may record. */
export const MAX_INPUT_SIDE = 4096;
export const MAX_BASE = 4096;

function config(r: StateReader, v: unknown): RunConfig {
  const c = r.obj(v, 'config');
  const model = r.str(c.model, 'config.model');
  // An imported architecture travels with its run (config.spec) and is the model; otherwise the name is one cbp knows.
  const spec = c.spec === undefined ? undefined : readSpec(r, c.spec);
  if (spec === undefined && !isModelName(model)) r.fail('config.model', model, 'a model cbp knows (cbp train --help lists them)');
  if (spec !== undefined && model !== spec.name) r.fail('config.model', model, `the name of its config.spec ('${spec.name}')`);
  const quant = r.str(c.quant, 'config.quant');
  if (!isQuantOrNone(quant)) r.fail('config.quant', quant, 'a constraint cbp knows (cbp train --help lists them)');
  const method = c.method === undefined ? undefined : TRAIN_METHODS.find((m) => m === c.method) ?? r.fail('config.method', c.method, TRAIN_METHODS.join(' or '));
  let inputShape: RunConfig['inputShape'];
  if (c.inputShape !== undefined) {
    if (!Array.isArray(c.inputShape) || c.inputShape.length !== 3) r.fail('config.inputShape', c.inputShape, '[channels, height, width]');
    // Checked on the line above to be an array of three; each element is checked as it is read.
    const [ch, h, w] = c.inputShape as unknown[];
    inputShape = [r.int(ch, 'config.inputShape[0]', 1, 64), r.int(h, 'config.inputShape[1]', 1, MAX_INPUT_SIDE), r.int(w, 'config.inputShape[2]', 1, MAX_INPUT_SIDE)];
  }
  const numClasses = r.int(c.numClasses, 'config.numClasses', 1, MAX_CLASSES);
  if (spec !== undefined) {
    if (numClasses !== spec.numClasses) r.fail('config.numClasses', numClasses, `the ${spec.numClasses} classes of config.spec`);
    if (inputShape === undefined || inputShape.join(',') !== spec.inputShape.join(',')) r.fail('config.inputShape', inputShape, `config.spec's input [${spec.inputShape.join(', ')}]`);
  }
  return {
    model,
    quant: quant,
    data: r.str(c.data, 'config.data'),
    numClasses,
    seed: r.int(c.seed, 'config.seed', Number.MIN_SAFE_INTEGER),
    batchSize: r.int(c.batchSize, 'config.batchSize', 1, 1_000_000),
    lr: r.num(c.lr, 'config.lr', 0, false),
    lrLambda: r.num(c.lrLambda, 'config.lrLambda', 0, false),
    weightDecay: r.num(c.weightDecay, 'config.weightDecay', 0),
    period: r.int(c.period, 'config.period', 1, MAX_EPOCHS),
    limit: c.limit === null || c.limit === undefined ? null : r.int(c.limit, 'config.limit', 1),
    ...(c.testLimit !== undefined ? {testLimit: r.int(c.testLimit, 'config.testLimit', 1)} : {}),
    epochs: r.int(c.epochs, 'config.epochs', 0, MAX_EPOCHS),
    init: c.init === null || c.init === undefined ? null : r.str(c.init, 'config.init'),
    ...(method !== undefined ? {method} : {}),
    ...(inputShape !== undefined ? {inputShape} : {}),
    ...(c.base !== undefined ? {base: r.int(c.base, 'config.base', 1, MAX_BASE)} : {}),
    ...(c.lrDrops !== undefined ? {lrDrops: lrDrops(r, c.lrDrops)} : {}),
    ...(spec !== undefined ? {spec} : {}),
  };
}

function lrDrops(r: StateReader, v: unknown): number[] {
  if (!Array.isArray(v) || v.length > MAX_EPOCHS) r.fail('config.lrDrops', v, `an array of at most ${MAX_EPOCHS} epochs`);
  // Checked on the line above to be an array; each element is checked as it is read.
  const drops = (v as unknown[]).map((e, i) => r.int(e, `config.lrDrops[${i}]`, 1, MAX_EPOCHS));
  drops.forEach((e, i) => {
    if (i > 0 && e <= drops[i - 1]) r.fail(`config.lrDrops[${i}]`, e, `an epoch after ${drops[i - 1]} (increasing)`);
  });
  return drops;
}

function schedule(r: StateReader, v: unknown): ScheduleState {
  const s = r.obj(v, 'schedule');
  return {
    g: r.num(s.g, 'schedule.g', 0),
    ucs: r.num(s.ucs, 'schedule.ucs', 0),
    sinceUpdate: r.int(s.sinceUpdate, 'schedule.sinceUpdate', 0),
    lagsumPrev: s.lagsumPrev === null ? null : r.num(s.lagsumPrev, 'schedule.lagsumPrev'),
    lrFactor: r.num(s.lrFactor, 'schedule.lrFactor', 0, false),
    lambdaSteps: r.int(s.lambdaSteps, 'schedule.lambdaSteps', 0),
  };
}

function record(r: StateReader, v: unknown, i: number, epochs: number): EpochRecord {
  const e = r.obj(v, `progress[${i}]`);
  const k = (name: string): string => `progress[${i}].${name}`;
  return {
    epoch: r.int(e.epoch, k('epoch'), 1, epochs),
    top1: r.num(e.top1, k('top1'), 0),
    top5: r.num(e.top5, k('top5'), 0),
    cfs: r.num(e.cfs, k('cfs')),
    loss: r.num(e.loss, k('loss')),
    lagrangian: r.num(e.lagrangian, k('lagrangian')),
    ucs: r.num(e.ucs, k('ucs')),
    lambdaMean: r.num(e.lambdaMean, k('lambdaMean')),
    lambdaUpdated: r.bool(e.lambdaUpdated, k('lambdaUpdated')),
    lr: r.num(e.lr, k('lr'), 0),
    seconds: r.num(e.seconds, k('seconds'), 0),
    ...(e.testImages !== undefined ? {testImages: r.int(e.testImages, k('testImages'), 0)} : {}),
  };
}

function origin(r: StateReader, v: unknown): RunOrigin {
  const o = r.obj(v, 'origin');
  const kind = o.kind === 'train' || o.kind === 'import' ? o.kind : r.fail('origin.kind', o.kind, "'train' or 'import'");
  let labels: string[] | undefined;
  if (o.labels !== undefined) {
    if (!Array.isArray(o.labels) || o.labels.length > MAX_CLASSES) r.fail('origin.labels', o.labels, `a list of at most ${MAX_CLASSES} class names`);
    // Checked on the line above to be an array; each element is checked as it is read.
    labels = (o.labels as unknown[]).map((l, i) => r.str(l, `origin.labels[${i}]`));
  }
  const format = o.format === undefined ? undefined : o.format === 'zip' || o.format === 'legacy' || o.format === 'onnx' ? o.format : r.fail('origin.format', o.format, "'zip', 'legacy' or 'onnx'");
  return {
    kind,
    version: r.str(o.version, 'origin.version'),
    ...(labels !== undefined ? {labels} : {}),
    ...(o.file !== undefined ? {file: r.str(o.file, 'origin.file')} : {}),
    ...(o.sha256 !== undefined ? {sha256: r.str(o.sha256, 'origin.sha256')} : {}),
    ...(format !== undefined ? {format} : {}),
    ...(o.data !== undefined ? {data: r.str(o.data, 'origin.data')} : {}),
  };
}

/** A run state read back from a file, checked against the schema above. */
export function validateState(s: unknown, file: string): RunState {
  const r = new StateReader(file);
  const o = r.obj(s, '(top level)');
  if (o.format !== 'cbp-checkpoint' || o.version !== 1) throw new CbpError(`${file}: run state is not a cbp-checkpoint version 1`, 'BAD_CHECKPOINT');
  const epoch = r.int(o.epoch, 'epoch', 0, MAX_EPOCHS);
  if (!Array.isArray(o.progress)) r.fail('progress', o.progress, 'a list of epoch records');
  // Checked on the line above to be an array; each record is checked below.
  const rows = o.progress as unknown[];
  if (rows.length > epoch) r.fail('progress', `${rows.length} records`, `at most one per completed epoch (${epoch})`);
  const progress = rows.map((row, i) => record(r, row, i, epoch));
  for (let i = 1; i < progress.length; i++) {
    if (progress[i].epoch <= progress[i - 1].epoch) r.fail(`progress[${i}].epoch`, progress[i].epoch, `more than the previous record's ${progress[i - 1].epoch}`);
  }
  return {
    format: 'cbp-checkpoint',
    version: 1,
    config: config(r, o.config),
    epoch,
    schedule: schedule(r, o.schedule),
    progress,
    backend: typeof o.backend === 'string' ? o.backend.slice(0, 200) : 'unknown',
    ...(o.origin !== undefined ? {origin: origin(r, o.origin)} : {}),
  };
}
