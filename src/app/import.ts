import * as path from 'node:path';
import {importPth, type ImportOptions, type ImportResult} from '../torch/import';
import {exportCheckpoint, type ExportResult} from './export';

export interface ImportRunOptions extends Omit<ImportOptions, 'out'> {
  /** The checkpoint folder to write: runs/MODEL-QUANT-imported when omitted. */
  readonly out?: string;
  /** Also export the imported model to this ONNX file (weights stored as `auto` does, checked against float32). */
  readonly onnx?: string;
  readonly log?: (line: string) => void;
}

/** A PyTorch checkpoint imported as `cbp import` does it: a cbp checkpoint folder, and the ONNX file when asked. */
export async function importModel(opts: ImportRunOptions): Promise<ImportResult & {export?: ExportResult}> {
  const imported = importPth({...opts, out: opts.out ?? path.join('runs', `${opts.model}-${opts.quant}-imported`)});
  if (opts.onnx === undefined) return imported;
  const e = await exportCheckpoint({checkpoint: imported.out, format: 'onnx', out: opts.onnx, weights: 'auto', verifyWith: 'float-onnx', log: opts.log});
  return {...imported, export: e};
}
