import {CbpError} from '../core/errors';
import {MODEL_NAMES, checkModel, type ModelName} from '../../models/index';
import {QUANT_OR_NONE, checkQuant, type QuantOrNone} from '../cbp/registry';
import {DATASET_NAMES} from '../data/index';
import {resolveOptions, usageChoices, type GivenOptions, type OptionSchema} from '../core/options';
import {EVAL_DEFAULTS, EVAL_SETTINGS, checkOnnxFile, resolveEvalSettings, runEvaluation, type EvalOptions, type EvalResult, type EvalSettings} from '../eval/evaluate';
import {publishedOnnx} from './published';
import {cardWarnings} from './card-check';

/** Where `evaluate` looks for a published model given by `model` and `quant`, and the data it evaluates it on. */
export const PUBLISHED_DEFAULTS = {modelDir: 'model', data: 'data/imagenet/val'} as const;

/** What `cbp eval` evaluates: an ONNX file, or a published model (by `model` and `quant`), and on what data. */
const MODEL_OPTIONS = {
  onnx: {kind: 'path', check: checkOnnxFile, help: 'ONNX model file'},
  model: {kind: 'choice', choices: MODEL_NAMES, check: checkModel, help: 'published model to evaluate, with --quant'},
  quant: {kind: 'choice', choices: QUANT_OR_NONE, check: checkQuant, help: 'constraint of the published model'},
  data: {
    kind: 'string', helpValue: usageChoices([...DATASET_NAMES, 'FOLDER']),
    help: `mnist, fashion-mnist, or an image folder [default: ${EVAL_DEFAULTS.data}; with --model: ${PUBLISHED_DEFAULTS.data}]`,
  },
  modelDir: {kind: 'path', default: PUBLISHED_DEFAULTS.modelDir, help: 'where --model looks for {model}_{quant}.onnx and {model}_{quant}_prequantized.pth'},
} as const satisfies OptionSchema;

/**
 * `cbp eval`'s options, one entry each (flag, help, default, check): the model and data (MODEL_OPTIONS) and the
 * settings of any evaluation (EVAL_SETTINGS). The flags of `cbp eval` are built from it (with --merge, which is
 * mergeResults, not evaluate) and EvaluateOptions is typed by it.
 */
export const EVALUATE_OPTIONS = {
  onnx: MODEL_OPTIONS.onnx,
  model: MODEL_OPTIONS.model,
  quant: MODEL_OPTIONS.quant,
  data: MODEL_OPTIONS.data,
  device: EVAL_SETTINGS.device,
  batchSize: EVAL_SETTINGS.batchSize,
  limit: EVAL_SETTINGS.limit,
  shard: EVAL_SETTINGS.shard,
  modelDir: MODEL_OPTIONS.modelDir,
  timeout: EVAL_SETTINGS.timeout,
} as const satisfies OptionSchema;

export interface EvaluateOptions extends GivenOptions<typeof EVALUATE_OPTIONS>, Pick<EvalOptions, 'env' | 'log' | 'onBatch' | 'keepPredictions'> {}

/** What `evaluate` evaluates, every option checked: a file, or a published model, on `data`, with the settings. */
export interface ResolvedEvaluate extends EvalSettings {
  readonly model: {readonly onnx: string} | {readonly published: {readonly model: ModelName; readonly quant: QuantOrNone; readonly dir: string}};
  readonly data: string;
}

/**
 * The one place where `cbp eval`'s options (or a library caller's) are checked, with their defaults filled in
 * (EVAL_DEFAULTS, PUBLISHED_DEFAULTS): each value by its entry (the file exists and is ONNX, the model and
 * constraint are known), then whether a model is given at all, then the settings, before a published model is made
 * or anything is read or run.
 */
export function resolveEvaluateOptions(opts: EvaluateOptions): ResolvedEvaluate {
  const o = resolveOptions(MODEL_OPTIONS, opts);
  let model: ResolvedEvaluate['model'];
  if (o.onnx !== undefined) {
    model = {onnx: o.onnx};
  } else {
    if (o.model === undefined || o.quant === undefined) throw new CbpError('cbp eval: give --onnx FILE, or --model and --quant, or --merge FILES', 'MISSING_FLAG');
    model = {published: {model: o.model, quant: o.quant, dir: o.modelDir}};
  }
  const data = o.data ?? ('onnx' in model ? EVAL_DEFAULTS.data : PUBLISHED_DEFAULTS.data);
  return {model, data, ...resolveEvalSettings(opts)};
}

/**
 * Top-1/top-5 of an ONNX file, or of a published model by `model` and `quant`, as `cbp eval` evaluates it: data
 * 'mnist' for a file and the ImageNet validation folder for a published model unless `data` is given, the device
 * chosen automatically, batches of 64. Where the data disagrees with the model card (the data set it was trained on,
 * its classes, its normalisation), the result's `warnings` say so, and so does the log, before the run.
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvalResult> {
  const {model, ...resolved} = resolveEvaluateOptions(opts);
  // A file already in the model folder is any file someone put there: checked as a given --onnx is.
  const onnx = 'onnx' in model ? model.onnx : checkOnnxFile(await publishedOnnx(model.published.model, model.published.quant, model.published.dir, opts.log));
  return runEvaluation({...resolved, onnx}, opts, (metadata, data) => cardWarnings(onnx, metadata, data));
}
