import * as fs from 'node:fs';
import {CbpError} from './errors';

/** A whole file's bytes, or a CbpError naming the file and the reason. */
export function readBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new CbpError(`${file}: no such file`, 'NO_FILE');
    throw new CbpError(`cannot read ${file}: ${e.code ?? e.message}`, 'READ_FAILED');
  }
}
