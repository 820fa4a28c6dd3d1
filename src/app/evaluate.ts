import {CbpError} from '../core/errors';
import {evaluateOnnx, type EvalOptions, type EvalResult} from '../eval/evaluate';
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

/**
 * Top-1/top-5 of an ONNX file, or of a published model by `model` and `quant`, as `cbp eval` evaluates it: data
 * 'mnist' for a file and the ImageNet validation folder for a published model unless `data` is given, the device
 * chosen automatically, batches of 64. Where the data disagrees with the model card (the data set it was trained on,
 * its classes, its normalisation), the result's `warnings` say so, and so does the log, before the run.
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvalResult> {
  let onnx = opts.onnx;
  if (onnx === undefined) {
    if (opts.model === undefined || opts.quant === undefined) throw new CbpError('cbp eval: give --onnx FILE, or --model and --quant, or --merge FILES', 'MISSING_FLAG');
    onnx = await publishedOnnx(opts.model, opts.quant, opts.modelDir ?? PUBLISHED_DEFAULTS.modelDir, opts.log);
  }
  const file = onnx;
  return evaluateOnnx(
    {
      ...opts,
      onnx,
      data: opts.data ?? (opts.onnx === undefined ? PUBLISHED_DEFAULTS.data : 'mnist'),
      device: opts.device ?? 'auto',
      batchSize: opts.batchSize ?? 64,
    },
    (metadata, data) => cardWarnings(file, metadata, data),
  );
}
