import * as fs from 'node:fs';
import {CbpError, errnoCode, errorMessage} from './errors';

/** A whole file's bytes, or a CbpError naming the file and the reason. */
export function readBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw new CbpError(`${file}: no such file`, 'NO_FILE');
    throw new CbpError(`cannot read ${file}: ${code ?? errorMessage(err)}`, 'READ_FAILED');
  }
}
