import {CbpError, errorMessage} from '../core/errors';
import {initialScale} from '../cbp/scale';
import {writeCheckpoint, type RunState} from '../run/checkpoint';
import {initialSchedule} from '../cbp/schedule';
import {checkInt, required} from '../core/checks';
import {checkQuant} from '../cbp/registry';
import {baseFor, checkModel} from '../../models/index';
import {specOf} from '../run/spec-of';
import {sameShape, type Weights} from '../core/weights';
import {paramInfos, type QuantOrNone} from '../../models/spec';
import {readPth, stateDict} from './load';

export interface ImportOptions {
  readonly file: string;
  readonly model: string;
  readonly quant: string;
  readonly out: string;
  readonly numClasses?: number;
  readonly inputSize?: number;
  /** List missing and unexpected keys as an error (default); otherwise missing keys are still an error, extras are ignored. */
  readonly strict?: boolean;
}

export interface ImportResult {
  readonly out: string;
  readonly model: string;
  readonly quant: QuantOrNone;
  readonly format: 'zip' | 'legacy';
  readonly numClasses: number;
  readonly base: number;
  readonly tensors: number;
  /** Constrained layers whose scale came from the checkpoint, and those set to mean|w| as CBP initialises it. */
  readonly scalesFromCheckpoint: readonly string[];
  readonly scalesFromWeights: readonly string[];
  readonly ignored: readonly string[];
}

// Present in every PyTorch batch-norm state dict; cbp keeps no step counter.
const ALWAYS_IGNORED = /\.num_batches_tracked$/;

/** Maps a PyTorch checkpoint onto a cbp architecture by name, checking shapes, and writes a cbp checkpoint. */
export function importPth(opts: ImportOptions): ImportResult {
  const model = checkModel(opts.model);
  const quant = checkQuant(opts.quant);
  const pth = readPth(opts.file);
  const sd = stateDict(pth);
  const first = [...sd.entries()].find(([k, v]) => k.endsWith('.weight') && v.shape.length === 4);
  const base = first ? first[1].shape[0] : undefined;
  const recorded = baseFor(model, base);
  const lastDense = [...sd.entries()].filter(([k, v]) => k.endsWith('.weight') && v.shape.length === 2).pop();
  const numClasses = opts.numClasses !== undefined ? checkInt('--num-classes', opts.numClasses, 1) : lastDense ? lastDense[1].shape[0] : 1000;
  const size = opts.inputSize !== undefined ? checkInt('--input-size', opts.inputSize, 32, 4096) : 224;
  const config = {
    model,
    quant,
    data: 'imagenet',
    numClasses,
    seed: 0,
    batchSize: 256,
    lr: 1e-3,
    lrLambda: 1e-4,
    weightDecay: 1e-4,
    period: 20,
    limit: null,
    epochs: 0,
    init: opts.file,
    inputShape: [3, size, size] as const,
    ...(recorded !== undefined ? {base: recorded} : {}),
  };
  let spec;
  try {
    spec = specOf(config);
  } catch (err) {
    throw new CbpError(`${opts.file}: cannot build ${model} for this checkpoint: ${errorMessage(err)}`);
  }
  const infos = paramInfos(spec, quant);
  const expected = new Set(infos.map((i) => i.key));
  const missing = infos.filter((i) => i.role !== 'scale' && !sd.has(i.key)).map((i) => i.key);
  const unexpected = [...sd.keys()].filter((k) => !expected.has(k) && !ALWAYS_IGNORED.test(k) && !(quant === 'none' && k.endsWith('.scale')));
  if (missing.length > 0 || (unexpected.length > 0 && opts.strict !== false)) {
    const list = (xs: string[]): string => xs.slice(0, 12).join(', ') + (xs.length > 12 ? `, … (${xs.length} in all)` : '');
    throw new CbpError(
      `${opts.file} does not match ${model} (${numClasses} classes):` +
        (missing.length > 0 ? ` missing ${list(missing)};` : '') +
        (unexpected.length > 0 ? ` unexpected ${list(unexpected)}${opts.strict !== false ? ' (use --no-strict to ignore extra keys)' : ''}` : ''),
      'KEY_MISMATCH',
    );
  }
  const weights: Weights = new Map();
  const fromCk: string[] = [];
  const fromW: string[] = [];
  for (const info of infos) {
    if (info.role === 'scale') {
      const t = sd.get(info.key);
      if (t !== undefined && t.data.length === 1) {
        weights.set(info.key, {shape: [1], data: Float32Array.of(t.data[0])});
        fromCk.push(info.node);
      } else {
        const w = required(sd, `${info.node}.weight`, 'weight of the scaled layer');
        weights.set(info.key, {shape: [1], data: Float32Array.of(initialScale(w.data))});
        fromW.push(info.node);
      }
      continue;
    }
    const t = required(sd, info.key, 'tensor');
    if (!sameShape(t.shape, info.shape)) {
      throw new CbpError(`${opts.file}: '${info.key}' has shape [${t.shape.join(', ')}], ${model} expects [${info.shape.join(', ')}]`, 'SHAPE_MISMATCH');
    }
    weights.set(info.key, t);
  }
  const state: RunState = {format: 'cbp-checkpoint', version: 1, config, epoch: 0, schedule: initialSchedule(), progress: [], backend: 'import'};
  writeCheckpoint(opts.out, state, weights);
  return {
    out: opts.out,
    model,
    quant,
    format: pth.format,
    numClasses,
    base: base ?? 64,
    tensors: weights.size,
    scalesFromCheckpoint: fromCk,
    scalesFromWeights: fromW,
    ignored: unexpected,
  };
}
