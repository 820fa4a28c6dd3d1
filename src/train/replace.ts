import * as fs from 'node:fs';
import * as path from 'node:path';
import {fileKind} from '../core/file-kind';
import {removeRunFiles} from '../run/run-folder';

/**
 * An ONNX file cbp exported: its metadata carries cbp's model card (`cbp.version`, written by every export since
 * the first), read from the file's top-level fields (fileKind), not by decoding the whole model. A file that is not
 * ONNX, or is without that key, is someone else's.
 */
const isCbpExport = (file: string): boolean => fileKind(file).cbp.has('cbp.version');

/**
 * `cbp train --force`: clears the run in `dir` before a new one is written there, so that nothing left describes
 * the old run — its checkpoint, progress.tsv, its pictures (a run with --no-plot draws none) and the ONNX files cbp
 * exported into the folder. Files cbp did not write stay. Returns the names removed: the run's files, then the exports.
 */
export function clearRun(dir: string): string[] {
  const exports = cbpExports(dir);
  for (const name of exports) fs.rmSync(path.join(dir, name));
  return [...removeRunFiles(dir), ...exports];
}

/** The ONNX files cbp exported into `dir`, sorted. */
export function cbpExports(dir: string): string[] {
  return fs.readdirSync(dir, {withFileTypes: true}).filter((e) => e.isFile() && /\.onnx$/i.test(e.name) && isCbpExport(path.join(dir, e.name))).map((e) => e.name).sort();
}
