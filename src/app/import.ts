import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {importPth, type ImportResult} from '../torch/import';
import {importOnnx, type OnnxImportResult} from '../../onnx/import/index';
import {exportCheckpoint, type ExportResult} from './export';

/** `cbp import FILE`: a PyTorch .pth onto a registered architecture, or a float ONNX classifier with its own. */
export interface ImportRunOptions {
  readonly file: string;
  /** .pth: the architecture (required); an ONNX file carries its own and refuses one. */
  readonly model?: string;
  /** .pth: the constraint its weights follow (required); ONNX: the constraint the run is set up for, `none` by default. */
  readonly quant?: string;
  /** The checkpoint folder to write: runs/MODEL-QUANT-imported when omitted (MODEL an ONNX file's stem). */
  readonly out?: string;
  /** .pth only: see ImportOptions. */
  readonly numClasses?: number;
  readonly inputSize?: number;
  readonly strict?: boolean;
  readonly data?: string;
  /** Class names in output order for the model card: a file with one per line, or the names. */
  readonly labels?: string | readonly string[];
  /** ONNX: conv/dense layers to keep full precision (patterns on node names; `*` and `?` match any characters). */
  readonly keepFloat?: readonly string[];
  /** Also export the imported model to this ONNX file (weights stored as `auto` does, checked against float32). */
  readonly onnx?: string;
  readonly log?: (line: string) => void;
}

export type ImportRunResult = (({readonly format: 'onnx'} & OnnxImportResult) | ImportResult) & {readonly export?: ExportResult};

export const isOnnxFile = (file: string): boolean => /\.onnx$/i.test(file);

/**
 * A model imported as `cbp import` does it, by the file's kind (`.onnx` through the ONNX importer, anything else as
 * a PyTorch checkpoint): a cbp checkpoint folder, and the ONNX file when asked.
 */
export async function importModel(opts: ImportRunOptions): Promise<ImportRunResult> {
  const imported = isOnnxFile(opts.file) ? await fromOnnx(opts) : fromPth(opts);
  if (opts.onnx === undefined) return imported;
  const e = await exportCheckpoint({checkpoint: imported.out, format: 'onnx', out: opts.onnx, weights: 'auto', verifyWith: 'float-onnx', log: opts.log});
  return {...imported, export: e};
}

async function fromOnnx(opts: ImportRunOptions): Promise<{readonly format: 'onnx'} & OnnxImportResult> {
  const pthOnly: [string, unknown][] = [['--model', opts.model], ['--num-classes', opts.numClasses], ['--input-size', opts.inputSize], ['--data', opts.data], ['--no-strict', opts.strict === false ? true : undefined]];
  const given = pthOnly.filter(([, v]) => v !== undefined).map(([f]) => f);
  if (given.length > 0) {
    throw new CbpError(`${given.join(', ')}: ${opts.file} is an ONNX file, which carries its own architecture, classes and input shape; ${given.length > 1 ? 'these apply' : 'this applies'} to PyTorch .pth files`);
  }
  return {format: 'onnx', ...(await importOnnx({file: opts.file, out: opts.out, quant: opts.quant, keepFloat: opts.keepFloat, labels: opts.labels}))};
}

function fromPth(opts: ImportRunOptions): ImportResult {
  if (opts.keepFloat !== undefined && opts.keepFloat.length > 0) throw new CbpError('--keep-float: applies to ONNX files; a .pth takes the constrained layers of --model');
  if (opts.model === undefined) throw new CbpError(`--model: required to import the PyTorch checkpoint ${opts.file} (an .onnx file carries its own architecture)`);
  if (opts.quant === undefined) throw new CbpError(`--quant: required to import the PyTorch checkpoint ${opts.file}: the constraint its weights follow`);
  return importPth({...opts, model: opts.model, quant: opts.quant, out: opts.out ?? path.join('runs', `${opts.model}-${opts.quant}-imported`)});
}
