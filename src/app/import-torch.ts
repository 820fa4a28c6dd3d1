import {CbpError, errorMessage} from '../core/errors';
import {initialScale} from '../cbp/scale';
import {writeCheckpoint, type RunState} from '../run/checkpoint';
import {initialSchedule} from '../cbp/schedule';
import {checkInt, required} from '../core/checks';
import {checkQuant} from '../cbp/registry';
import {baseOfStateDict, checkModel, modelWidth} from '../../models/index';
import {specOf} from '../run/spec-of';
import {sameShape, type Weights} from '../core/weights';
import {paramInfos, type QuantOrNone} from '../../models/spec';
import {parsePth, stateDict} from '../torch/load';
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {readBytes} from '../core/read';
import {VERSION} from '../core/version';
import {DATASET_FACTS, isDatasetName} from '../data/index';
import {checkLabels, readLabels} from '../data/labels';
import {scanImageFolder} from '../data/imagefolder';
import {importedConfig, type RunOrigin} from '../run/format';
import {quoted} from '../core/shown';

export interface ImportOptions {
  readonly file: string;
  readonly model: string;
  readonly quant: string;
  readonly out: string;
  readonly numClasses?: number;
  readonly inputSize?: number;
  /** List missing and unexpected keys as an error (default); otherwise missing keys are still an error, extras are ignored. */
  readonly strict?: boolean;
  /**
   * What the weights were trained on, recorded in the model card: `imagenet` (torchvision's statistics, resize 256,
   * crop 224), a built-in set (its statistics, image shape and class names) or an image folder (ImageNet statistics
   * as cbp's folders use them; its class folders are the labels). Without it the card records no data and no
   * preprocessing beyond the input shape: cbp does not guess.
   */
  readonly data?: string;
  /** Class names in output order: a file with one per line, or the names. */
  readonly labels?: string | readonly string[];
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
  const bytes = readBytes(opts.file);
  const pth = parsePth(bytes, opts.file);
  const tensors = stateDict(pth);
  const recorded = baseOfStateDict(model, tensors);
  const lastDense = [...tensors.entries()].filter(([key, tensor]) => key.endsWith('.weight') && tensor.shape.length === 2).pop();
  const numClasses = opts.numClasses !== undefined ? checkInt('--num-classes', opts.numClasses, 1) : lastDense ? lastDense[1].shape[0] : 1000;
  const facts = opts.data === undefined ? undefined : dataFacts(opts.data);
  if (facts?.shape !== undefined && opts.inputSize !== undefined) {
    throw new CbpError(`--input-size ${opts.inputSize}: --data ${opts.data} has images of ${facts.shape.join('×')}; leave --input-size out`);
  }
  const size = opts.inputSize !== undefined ? checkInt('--input-size', opts.inputSize, 32, 4096) : 224;
  const labels = opts.labels !== undefined
    ? checkLabels(typeof opts.labels === 'string' ? readLabels(opts.labels) : opts.labels, numClasses, typeof opts.labels === 'string' ? `--labels ${opts.labels}` : 'labels')
    : facts?.labels !== undefined ? checkLabels(facts.labels, numClasses, `--data ${opts.data}`) : undefined;
  const config = importedConfig({
    model,
    quant,
    // Not a data set cbp can open unless --data named one: an imported run records what it was facts, nothing more.
    data: opts.data ?? 'unknown',
    numClasses,
    init: opts.file,
    inputShape: facts?.shape ?? ([3, size, size] as const),
    ...(recorded !== undefined ? {base: recorded} : {}),
  });
  let spec;
  try {
    spec = specOf(config);
  } catch (err) {
    throw new CbpError(`${opts.file}: cannot build ${model} for this checkpoint: ${errorMessage(err)}`);
  }
  const infos = paramInfos(spec, quant);
  const expected = new Set(infos.map((info) => info.key));
  const missing = infos.filter((info) => info.role !== 'scale' && !tensors.has(info.key)).map((info) => info.key);
  const unexpected = [...tensors.keys()].filter((key) => !expected.has(key) && !ALWAYS_IGNORED.test(key) && !(quant === 'none' && key.endsWith('.scale')));
  if (missing.length > 0 || (unexpected.length > 0 && opts.strict !== false)) {
    const list = (keys: string[]): string => keys.slice(0, 12).join(', ') + (keys.length > 12 ? `, … (${keys.length} in all)` : '');
    throw new CbpError(
      `${opts.file} does not match ${model} (${numClasses} classes):` +
        (missing.length > 0 ? ` missing ${list(missing)};` : '') +
        (unexpected.length > 0 ? ` unexpected ${list(unexpected)}${opts.strict !== false ? ' (use --no-strict to ignore extra keys)' : ''}` : ''),
      'KEY_MISMATCH',
    );
  }
  const weights: Weights = new Map();
  const scalesFromCheckpoint: string[] = [];
  const scalesFromWeights: string[] = [];
  for (const info of infos) {
    if (info.role === 'scale') {
      const stored = tensors.get(info.key);
      if (stored !== undefined && stored.data.length === 1) {
        weights.set(info.key, {shape: [1], data: Float32Array.of(stored.data[0])});
        scalesFromCheckpoint.push(info.node);
      } else {
        const weight = required(tensors, `${info.node}.weight`, 'weight of the scaled layer');
        weights.set(info.key, {shape: [1], data: Float32Array.of(initialScale(weight.data))});
        scalesFromWeights.push(info.node);
      }
      continue;
    }
    const tensor = required(tensors, info.key, 'tensor');
    if (!sameShape(tensor.shape, info.shape)) {
      throw new CbpError(`${opts.file}: ${quoted(info.key)} has shape [${tensor.shape.join(', ')}], ${model} expects [${info.shape.join(', ')}]`, 'SHAPE_MISMATCH');
    }
    weights.set(info.key, tensor);
  }
  const origin: RunOrigin = {
    kind: 'import',
    version: VERSION,
    file: opts.file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    format: pth.format,
    ...(opts.data !== undefined ? {data: opts.data} : {}),
    ...(labels !== undefined ? {labels} : {}),
  };
  const state: RunState = {format: 'cbp-checkpoint', version: 1, config, epoch: 0, schedule: initialSchedule(), progress: [], backend: 'import', origin};
  writeCheckpoint(opts.out, state, weights);
  return {
    out: opts.out,
    model,
    quant,
    format: pth.format,
    numClasses,
    base: modelWidth(model, recorded) ?? 64,
    tensors: weights.size,
    scalesFromCheckpoint,
    scalesFromWeights,
    ignored: unexpected,
  };
}

/** What `--data` tells of the weights: a built-in set's image shape and class names, or a folder's class names. */
function dataFacts(data: string): {shape?: readonly [number, number, number]; labels?: readonly string[]} {
  if (data === 'imagenet') return {};
  if (isDatasetName(data)) return {shape: DATASET_FACTS[data].shape, labels: DATASET_FACTS[data].labels};
  if (!fs.existsSync(data) || !fs.statSync(data).isDirectory()) {
    throw new CbpError(`--data ${data}: expected imagenet, one of ${Object.keys(DATASET_FACTS).join(', ')}, or an image folder (one sub-folder per class)`);
  }
  const val = path.join(data, 'val');
  return {labels: scanImageFolder(fs.existsSync(val) ? val : data, '--data').classes};
}
