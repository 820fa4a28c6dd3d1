import {CbpError} from '../core/errors';
import {importPth, type ImportOptions, type ImportResult} from '../torch/import';
import {importOnnx, type OnnxImportResult} from '../../onnx/import/index';

/** `cbp import FILE`: a PyTorch .pth onto a registered architecture, or a float ONNX classifier with its own. */
export interface ImportFileOptions {
  readonly file: string;
  /** .pth: the architecture (required); an ONNX file carries its own and refuses one. */
  readonly model?: string;
  /** .pth: required; ONNX: `none` by default. */
  readonly quant?: string;
  readonly out?: string;
  readonly numClasses?: number;
  readonly inputSize?: number;
  readonly strict?: boolean;
  readonly data?: string;
  readonly labels?: string | readonly string[];
  /** ONNX: conv/dense layers to keep full precision (patterns on node names). */
  readonly keepFloat?: readonly string[];
}

export type ImportFileResult = ({readonly format: 'onnx'} & OnnxImportResult) | ImportResult;

export const isOnnxFile = (file: string): boolean => /\.onnx$/i.test(file);

/** Imports a file by its kind: `.onnx` through the ONNX importer, anything else as a PyTorch checkpoint. */
export async function importFile(opts: ImportFileOptions): Promise<ImportFileResult> {
  if (isOnnxFile(opts.file)) {
    const pthOnly: [string, unknown][] = [['--model', opts.model], ['--num-classes', opts.numClasses], ['--input-size', opts.inputSize], ['--data', opts.data], ['--no-strict', opts.strict === false ? true : undefined]];
    const given = pthOnly.filter(([, v]) => v !== undefined).map(([f]) => f);
    if (given.length > 0) {
      throw new CbpError(`${given.join(', ')}: ${opts.file} is an ONNX file, which carries its own architecture, classes and input shape; ${given.length > 1 ? 'these apply' : 'this applies'} to PyTorch .pth files`);
    }
    return {format: 'onnx', ...(await importOnnx({file: opts.file, out: opts.out, quant: opts.quant, keepFloat: opts.keepFloat, labels: opts.labels}))};
  }
  if (opts.keepFloat !== undefined && opts.keepFloat.length > 0) throw new CbpError(`--keep-float: applies to ONNX files; a .pth takes the constrained layers of --model`);
  if (opts.model === undefined) throw new CbpError(`--model: required to import the PyTorch checkpoint ${opts.file} (an .onnx file carries its own architecture)`);
  if (opts.quant === undefined) throw new CbpError(`--quant: required to import the PyTorch checkpoint ${opts.file}: the constraint its weights follow`);
  const pth: ImportOptions = {
    file: opts.file,
    model: opts.model,
    quant: opts.quant,
    out: opts.out ?? `runs/${opts.model}-${opts.quant}-imported`,
    numClasses: opts.numClasses,
    inputSize: opts.inputSize,
    strict: opts.strict,
    data: opts.data,
    labels: opts.labels,
  };
  return importPth(pth);
}
