import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError, errnoCode, errorMessage} from './errors';

/**
 * Writes a file so that a crash at any moment leaves either the old file or the new one, never half of one:
 * the bytes go to a temporary name in the same folder, are flushed to disk, and the name is swapped by rename.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, {force: true});
    throw new CbpError(`cannot write ${file}: ${errorMessage(err)}`, 'WRITE_FAILED');
  }
  try {
    // Make the rename itself durable.
    const dfd = fs.openSync(dir, 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename has still happened.
  }
}

/** Checks before any work starts that `dir` can be created and written, so a long run cannot fail at its first save. */
export function ensureWritableDir(dir: string, flag: string): void {
  const probe = path.join(dir, `.cbp-write-test.${process.pid}`);
  try {
    fs.mkdirSync(dir, {recursive: true});
    fs.writeFileSync(probe, 'ok');
    fs.rmSync(probe, {force: true});
  } catch (err) {
    try {
      fs.rmSync(probe, {force: true});
    } catch {
      // The folder itself is unusable (e.g. its parent is a file): there is no probe to remove.
    }
    throw new CbpError(`${flag} ${dir}: cannot write checkpoints there (${errnoCode(err) ?? errorMessage(err)})`, 'WRITE_FAILED');
  }
}
