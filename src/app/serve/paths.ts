import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError, errnoCode, errorMessage} from '../../core/errors';

/**
 * The folder `cbp serve` shows, as its real path: every path a request names is resolved the same way and must
 * stay inside it, so `..`, an absolute path and a symlink that points out are refused alike.
 */
export class ServedRoot {
  readonly real: string;

  constructor(readonly given: string) {
    let real: string;
    try {
      real = fs.realpathSync(given);
    } catch (err) {
      const code = errnoCode(err);
      throw new CbpError(`RUNS_DIR ${given}: ${code === 'ENOENT' ? 'no such folder' : `cannot open it (${code ?? errorMessage(err)})`}`, code === 'ENOENT' ? 'NO_FILE' : 'READ_FAILED');
    }
    if (!fs.statSync(real).isDirectory()) throw new CbpError(`RUNS_DIR ${given}: not a folder`, 'NO_FILE');
    this.real = real;
  }

  /** Whether a real (symlink-free) path is the root or below it. */
  contains(real: string): boolean {
    return real === this.real || real.startsWith(this.real.endsWith(path.sep) ? this.real : this.real + path.sep);
  }

  /**
   * The real path of `rel`, a path relative to the root as a request gives it (already percent-decoded). Refused
   * before the file system is asked: a NUL, an absolute path, a `..` segment, a backslash (a separator on Windows).
   * Refused after: a real path outside the root (a symlink pointing out). Missing: NO_FILE.
   */
  resolve(rel: string): string {
    if (rel.includes('\0') || rel.includes('\\') || path.isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) throw outside(rel);
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.some((p) => p === '..')) throw outside(rel);
    let real: string;
    try {
      real = fs.realpathSync(path.join(this.real, ...parts));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new CbpError(`${rel}: no such file in the served folder`, 'NO_FILE');
      throw new CbpError(`${rel}: cannot open it (${code ?? errorMessage(err)})`, 'READ_FAILED');
    }
    if (!this.contains(real)) throw outside(rel);
    return real;
  }

  /** The path of a real path below the root, relative to it with '/' separators, as the page names it. */
  relative(real: string): string {
    return path.relative(this.real, real).split(path.sep).join('/');
  }
}

function outside(rel: string): CbpError {
  return new CbpError(`${JSON.stringify(rel).slice(0, 200)}: outside the served folder`, 'OUTSIDE_ROOT');
}
