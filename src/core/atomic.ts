import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError, errnoCode, errorMessage} from './errors';

/**
 * A fresh name beside `file`, unguessable, so nobody can plant a symlink there in advance; it is also opened with
 * O_EXCL ('wx'), which refuses an existing name, a symlink included, rather than write through it.
 */
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(12).toString('hex')}.tmp`);
}

/** The largest piece one read or write call moves. */
export const CHUNK = 1 << 30;

/**
 * Writes a file so that a crash at any moment leaves either the old file or the new one, never half of one:
 * the bytes go to a temporary name in the same folder, are flushed to disk, and the name is swapped by rename.
 * `data` may be given as pieces, written one after the other (a checkpoint from its tensors, without one buffer
 * holding the whole file).
 */
export function writeFileAtomic(file: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const dir = path.dirname(file);
  const tmp = tempName(file);
  let fd: number | undefined;
  let created = false;
  try {
    fd = fs.openSync(tmp, 'wx');
    created = true;
    for (const bytes of typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data) {
      let off = 0;
      // In pieces: one write call takes at most 2 GiB − 1 bytes (a VGG checkpoint with its optimizer state is more).
      while (off < bytes.length) off += fs.writeSync(fd, bytes, off, Math.min(bytes.length - off, CHUNK), null);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    // Only our own file: had 'wx' failed, whatever is at that name belongs to someone else.
    if (created) fs.rmSync(tmp, {force: true});
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
  const probe = tempName(path.join(dir, '.cbp-write-test'));
  let created = false;
  try {
    fs.mkdirSync(dir, {recursive: true});
    fs.writeFileSync(probe, 'ok', {flag: 'wx'});
    created = true;
    fs.rmSync(probe, {force: true});
  } catch (err) {
    if (created) fs.rmSync(probe, {force: true});
    throw new CbpError(`${flag} ${dir}: cannot write checkpoints there (${errnoCode(err) ?? errorMessage(err)})`, 'WRITE_FAILED');
  }
}
