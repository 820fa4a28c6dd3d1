import {CbpError} from '../core/errors';
import {checkModel, type ModelName} from '../../models/index';
import {checkQuant, type QuantOrNone} from '../cbp/registry';
import {EVAL_DEFAULTS, checkOnnxFile, resolveEvalSettings, runEvaluation, type EvalOptions, type EvalResult, type EvalSettings} from '../eval/evaluate';
import {publishedOnnx} from './published';
import {cardWarnings} from './card-check';

/** Where `evaluate` looks for a published model given by `model` and `quant`, and the data it evaluates it on. */
export const PUBLISHED_DEFAULTS = {modelDir: 'model', data: 'data/imagenet/val'} as const;

export interface EvaluateOptions extends Partial<EvalOptions> {
  /** A published CBP model instead of `onnx`: {model}_{quant}.onnx in `modelDir`, made once from its .pth. */
  readonly model?: string;
  readonly quant?: string;
  readonly modelDir?: string;
}

/** What `evaluate` evaluates, every option checked: a file, or a published model, on `data`, with the settings. */
export interface ResolvedEvaluate extends EvalSettings {
  readonly model: {readonly onnx: string} | {readonly published: {readonly model: ModelName; readonly quant: QuantOrNone; readonly dir: string}};
  readonly data: string;
}

/**
 * The one place where `cbp eval`'s options (or a library caller's) are checked, with their defaults filled in
 * (EVAL_DEFAULTS, PUBLISHED_DEFAULTS): the model (an ONNX file, or a published model and its constraint), then
 * the settings, before a published model is made or anything is read or run.
 */
export function resolveEvaluateOptions(opts: EvaluateOptions): ResolvedEvaluate {
  let model: ResolvedEvaluate['model'];
  if (opts.onnx !== undefined) {
    model = {onnx: checkOnnxFile(opts.onnx)};
  } else {
    if (opts.model === undefined || opts.quant === undefined) throw new CbpError('cbp eval: give --onnx FILE, or --model and --quant, or --merge FILES', 'MISSING_FLAG');
    model = {published: {model: checkModel(opts.model), quant: checkQuant(opts.quant), dir: opts.modelDir ?? PUBLISHED_DEFAULTS.modelDir}};
  }
  const data = opts.data ?? ('onnx' in model ? EVAL_DEFAULTS.data : PUBLISHED_DEFAULTS.data);
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
