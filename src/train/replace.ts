import * as fs from 'node:fs';
import * as path from 'node:path';
import {removeRunFiles} from '../run/run-folder';
import {metadataOf, readOnnx} from '../../onnx/reader';

/**
 * An ONNX file cbp exported: its metadata carries cbp's model card (`cbp.version`, written by every export since
 * the first). A file that does not read as ONNX, or reads without that key, is someone else's.
 */
function isCbpExport(file: string): boolean {
  try {
    return metadataOf(readOnnx(file).model)['cbp.version'] !== undefined;
  } catch {
    return false;
  }
}

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
