import * as fs from 'node:fs';
import {CbpError, errnoCode, errorMessage} from './errors';

/** The largest file cbp reads into memory (a zip64 archive is refused anyway; ResNet-50 in float32 is 100 MB). */
export const MAX_FILE_BYTES = 3 * 1024 ** 3;

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * A whole regular file's bytes, or a CbpError naming the file and the reason. Devices, FIFOs and sockets (also
 * behind a symlink) are refused before a byte is read: /dev/zero never ends and a FIFO blocks, so reading them as
 * a checkpoint or an image would hang or fill memory. The file is opened non-blocking so that even the open of a
 * FIFO with no writer returns at once.
 */
export function readBytes(file: string, limit = MAX_FILE_BYTES): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw new CbpError(`${file}: no such file`, 'NO_FILE');
    throw new CbpError(`cannot read ${file}: ${code ?? errorMessage(err)}`, 'READ_FAILED');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new CbpError(`${file}: ${kindOf(st)}, expected a regular file`, 'READ_FAILED');
    if (st.size > limit) throw new CbpError(`${file}: ${st.size} bytes, more than the ${limit} bytes cbp reads`, 'OVER_BUDGET');
    // Not from the shared pool: readers take aligned typed-array views of these bytes.
    const buf = Buffer.allocUnsafeSlow(st.size);
    let off = 0;
    while (off < st.size) {
      // In pieces: one read call takes at most 2 GiB − 1 bytes.
      const n = fs.readSync(fd, buf, off, Math.min(st.size - off, 1 << 30), off);
      if (n === 0) break;
      off += n;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } catch (err) {
    if (err instanceof CbpError) throw err;
    throw new CbpError(`cannot read ${file}: ${errnoCode(err) ?? errorMessage(err)}`, 'READ_FAILED');
  } finally {
    fs.closeSync(fd);
  }
}

/** A regular text file (JSON, TSV) of at most `limit` bytes, as UTF-8. */
export function readText(file: string, limit = 64 * 1024 * 1024): string {
  return readBytes(file, limit).toString('utf8');
}
