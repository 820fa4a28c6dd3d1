import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {resolveOptions, usageChoices, type GivenOptions, type OptionSchema} from '../core/options';
import {MODEL_NAMES, checkModel} from '../../models/index';
import {QUANT_OR_NONE, checkQuant} from '../cbp/registry';
import {DATASET_NAMES} from '../data/index';
import {fileKind, namedOnnx, type FileKind} from '../core/file-kind';
import {wrongFile} from '../core/wrong-file';
import {importPth, type ImportResult} from './import-torch';
import {defaultImportOut, importOnnx, type OnnxImportResult} from './import-onnx';
import {CURVES_FILE, HISTOGRAM_FILE, heldRun} from '../run/run-folder';
import {cbpExports} from '../train/replace';
import {exportCheckpoint, type ExportResult} from './export';

/**
 * `cbp import`'s options, one entry each: the flag (the key in kebab-case), its help, default and check. The flags of
 * `cbp import` are built from it, ImportRunOptions is typed by it and importModel checks each value by it. The
 * options that apply to one kind of file only are checked against the file in importModel.
 */
export const IMPORT_OPTIONS = {
  model: {kind: 'choice', choices: MODEL_NAMES, check: checkModel, help: 'architecture of a .pth (required for one)'},
  quant: {kind: 'choice', choices: QUANT_OR_NONE, check: checkQuant, help: 'constraint the weights follow (required for a .pth; an .onnx: none by default)'},
  keepFloat: {kind: 'list', help: 'an .onnx: keep these conv/dense layers full precision (node names; * and ? match any characters); repeatable'},
  out: {kind: 'path', help: 'cbp checkpoint folder to write [default: runs/MODEL-QUANT-imported]'},
  onnx: {kind: 'path', help: 'also export the imported model to this ONNX file'},
  force: {kind: 'boolean', help: 'replace the run --out already holds (its checkpoint is written over, its plots and the ONNX files cbp exported there removed)'},
  numClasses: {kind: 'int', min: 1, help: 'classes of the last layer [default: from the checkpoint]'},
  inputSize: {kind: 'int', min: 32, max: 4096, help: 'input height and width [default: 224, or the --data set\'s]'},
  data: {
    kind: 'string', helpValue: usageChoices(['imagenet', ...DATASET_NAMES, 'FOLDER']),
    help: 'what the weights were trained on, recorded in the model card: imagenet, mnist, fashion-mnist or an image folder (its class folders become the labels) [default: not recorded]',
  },
  labels: {kind: 'path', help: 'class names for the model card, one per line in output order'},
  strict: {kind: 'boolean', default: true, allowNo: true, help: 'refuse checkpoints with keys the model does not have'},
} as const satisfies OptionSchema;

/**
 * `cbp import FILE`: a PyTorch .pth onto a registered architecture, or a float ONNX classifier with its own. A .pth
 * needs `model` and `quant`; `numClasses`, `inputSize`, `data` and `strict: false` apply to a .pth only,
 * `keepFloat` to an ONNX file only. `out` is runs/MODEL-QUANT-imported when omitted (MODEL an ONNX file's stem).
 */
export interface ImportRunOptions extends Omit<GivenOptions<typeof IMPORT_OPTIONS>, 'labels'> {
  readonly file: string;
  /** Class names in output order for the model card: a file with one per line, or the names. */
  readonly labels?: string | readonly string[];
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
export async function importModel(given: ImportRunOptions): Promise<ImportRunResult> {
  // Every value checked by its entry before the file is read; the labels may be the names themselves (a library
  // caller's), of which the schema checks a file's name only. Options stay unset where not given (strict aside),
  // as the checks against the file's kind need.
  const opts: ImportRunOptions = {...given, ...resolveOptions(IMPORT_OPTIONS, {...given, labels: typeof given.labels === 'string' ? given.labels : undefined})};
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
