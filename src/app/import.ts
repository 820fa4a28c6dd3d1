import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {fileKind, namedOnnx, type FileKind} from '../core/file-kind';
import {wrongFile} from '../core/wrong-file';
import {importPth, type ImportResult} from './import-torch';
import {defaultImportOut, importOnnx, type OnnxImportResult} from './import-onnx';
import {CURVES_FILE, HISTOGRAM_FILE, heldRun} from '../run/run-folder';
import {cbpExports} from '../train/replace';
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
  /** Replace the run `out` already holds (refused otherwise): its pictures and cbp's exports there go once the import has succeeded. */
  readonly force?: boolean;
  /** Also export the imported model to this ONNX file (weights stored as `auto` does, checked against float32). */
  readonly onnx?: string;
  readonly log?: (line: string) => void;
}

export type ImportRunResult = (({readonly format: 'onnx'} & OnnxImportResult) | ImportResult) & {readonly export?: ExportResult};

export const isOnnxFile = namedOnnx;

/** A cbp export whose constrained weights are codes (BitShift, BitwiseAnd, DequantizeLinear): no float graph to import. */
const isCodedExport = (kind: FileKind): boolean => kind.kind === 'cbp-onnx' && !['float', 'portable'].includes(kind.cbp.get('cbp.weights') ?? '');

/**
 * Which importer reads the file, by its bytes: ONNX or a PyTorch checkpoint, else a refusal saying what the file is.
 * A file whose bytes are of no known kind goes by its name (a damaged .onnx or .pth gets its reader's exact reason).
 */
function importerOf(file: string): 'onnx' | 'pth' {
  const found = fileKind(file);
  switch (found.kind) {
    case 'onnx':
      return 'onnx';
    case 'cbp-onnx':
      if (isCodedExport(found)) throw wrongFile('import', file, found);
      return 'onnx';
    case 'pytorch-zip':
    case 'pytorch-legacy':
      return 'pth';
    case 'binary':
      if (isOnnxFile(file)) return 'onnx';
      if (/\.(pth?|tar|bin|ckpt)$/i.test(file)) return 'pth';
      throw wrongFile('import', file, found);
    case 'zip':
    case 'safetensors':
    case 'checkpoint-weights':
    case 'checkpoint':
    case 'folder':
    case 'text':
    case 'empty':
    case 'special':
    case 'missing':
      throw wrongFile('import', file, found);
  }
}

/**
 * A model imported as `cbp import` does it, by the file's kind (ONNX through the ONNX importer, a PyTorch checkpoint
 * through the .pth reader): a cbp checkpoint folder, and the ONNX file when asked.
 */
export async function importModel(opts: ImportRunOptions): Promise<ImportRunResult> {
  const imported = importerOf(opts.file) === 'onnx' ? await fromOnnx(opts) : fromPth(opts);
  if (opts.onnx === undefined) return imported;
  const exported = await exportCheckpoint({checkpoint: imported.out, format: 'onnx', out: opts.onnx, weights: 'auto', verifyWith: 'float-onnx', log: opts.log});
  return {...imported, export: exported};
}

/**
 * The run folder an import writes, as cbp train treats its --out: one that holds a run is refused unless `force`.
 * Returns what of the old run the new checkpoint (written atomically over the old one) does not replace — its
 * pictures and cbp's exports there — for `replaced` to remove once the import has succeeded.
 */
function claim(out: string, opts: ImportRunOptions): string[] {
  const held = heldRun(out);
  if (held === undefined) return [];
  if (opts.force !== true) throw new CbpError(`--out ${out}${opts.out === undefined ? ' (the default --out)' : ''}: holds a run (${held.summary}); give another --out, or --force to replace it`, 'RUN_EXISTS');
  return [...[CURVES_FILE, HISTOGRAM_FILE].filter((file) => fs.existsSync(path.join(out, file))), ...cbpExports(out)];
}

function replaced<T>(imported: T, out: string, stale: readonly string[], log?: (line: string) => void): T {
  for (const file of stale) fs.rmSync(path.join(out, file), {force: true});
  if (stale.length > 0) log?.(`--force: replaced the run in ${out}; removed ${stale.join(', ')}`);
  return imported;
}

async function fromOnnx(opts: ImportRunOptions): Promise<{readonly format: 'onnx'} & OnnxImportResult> {
  const pthOnly: [string, unknown][] = [['--model', opts.model], ['--num-classes', opts.numClasses], ['--input-size', opts.inputSize], ['--data', opts.data], ['--no-strict', opts.strict === false ? true : undefined]];
  const given = pthOnly.filter(([, v]) => v !== undefined).map(([f]) => f);
  if (given.length > 0) {
    throw new CbpError(`${given.join(', ')}: ${opts.file} is an ONNX file, which carries its own architecture, classes and input shape; ${given.length > 1 ? 'these apply' : 'this applies'} to PyTorch .pth files`, 'FLAG_CONFLICT');
  }
  const out = opts.out ?? defaultImportOut(opts.file, opts.quant ?? 'none');
  const stale = claim(out, opts);
  return replaced({format: 'onnx', ...(await importOnnx({file: opts.file, out, quant: opts.quant, keepFloat: opts.keepFloat, labels: opts.labels}))}, out, stale, opts.log);
}

function fromPth(opts: ImportRunOptions): ImportResult {
  if (opts.keepFloat !== undefined && opts.keepFloat.length > 0) throw new CbpError('--keep-float: applies to ONNX files; a .pth takes the constrained layers of --model', 'FLAG_CONFLICT');
  if (opts.model === undefined) throw new CbpError(`--model: required to import the PyTorch checkpoint ${opts.file} (an .onnx file carries its own architecture)`, 'MISSING_FLAG');
  if (opts.quant === undefined) throw new CbpError(`--quant: required to import the PyTorch checkpoint ${opts.file}: the constraint its weights follow`, 'MISSING_FLAG');
  const out = opts.out ?? path.join('runs', `${opts.model}-${opts.quant}-imported`);
  const stale = claim(out, opts);
  return replaced(importPth({...opts, model: opts.model, quant: opts.quant, out}), out, stale, opts.log);
}
