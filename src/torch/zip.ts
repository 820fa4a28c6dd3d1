import * as zlib from 'node:zlib';
import {CbpError, errorMessage} from '../core/errors';
import {quoted} from '../core/shown';

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
}

/** The most one deflated entry may inflate to, and all of an archive's deflated entries together. */
export const MAX_INFLATED_ENTRY = 1024 ** 3;
export const MAX_INFLATED_TOTAL = 2 * 1024 ** 3;

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * A reader for the zip archives PyTorch writes (stored entries, 64-byte-aligned data), reading only the
 * central directory and the entries asked for. Every offset and size is checked against the file before use.
 * Stored entries are views of the file, never copies; a deflated entry (torch never writes one, but a file may)
 * is inflated only up to the size the central directory promises, within MAX_INFLATED_ENTRY and MAX_INFLATED_TOTAL.
 */
export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private inflated = 0;

  constructor(private readonly buf: Uint8Array, private readonly file: string) {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const fail = (why: string): never => {
      throw new CbpError(`${file}: not a readable zip archive: ${why}`, 'BAD_PTH');
    };
    let eocd = -1;
    for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
      if (view.getUint32(i, true) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) fail('no end-of-central-directory record (truncated?)');
    const count = view.getUint16(eocd + 10, true);
    const cdSize = view.getUint32(eocd + 12, true);
    const cdOffset = view.getUint32(eocd + 16, true);
    if (cdOffset === 0xffffffff || count === 0xffff) fail('zip64 archives (over 4 GiB) are not supported');
    if (cdOffset + cdSize > eocd) fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the file`);
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > eocd || view.getUint32(p, true) !== CENTRAL) fail(`central directory entry ${i} is damaged`);
      const method = view.getUint16(p + 10, true);
      const compressedSize = view.getUint32(p + 20, true);
      const size = view.getUint32(p + 24, true);
      const nameLen = view.getUint16(p + 28, true);
      const extraLen = view.getUint16(p + 30, true);
      const commentLen = view.getUint16(p + 32, true);
      const localOffset = view.getUint32(p + 42, true);
      if (p + 46 + nameLen > eocd) fail(`central directory entry ${i} name runs past the directory`);
      const name = Buffer.from(buf.buffer, buf.byteOffset + p + 46, nameLen).toString('utf8');
      this.entries.set(name, {name, method, compressedSize, size, localOffset});
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (e === undefined) throw new CbpError(`${this.file}: archive has no entry ${quoted(name)}`, 'BAD_PTH');
    const view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const fail = (why: string): never => {
      throw new CbpError(`${this.file}: entry ${quoted(name)}: ${why}`, 'BAD_PTH');
    };
    if (e.localOffset + 30 > this.buf.length || view.getUint32(e.localOffset, true) !== LOCAL) fail('local header missing or damaged');
    const start = e.localOffset + 30 + view.getUint16(e.localOffset + 26, true) + view.getUint16(e.localOffset + 28, true);
    if (start + e.compressedSize > this.buf.length) fail(`claims ${e.compressedSize} bytes at offset ${start}, past the end of the ${this.buf.length}-byte file`);
    const raw = this.buf.subarray(start, start + e.compressedSize);
    if (e.method === 0) {
      if (e.size !== e.compressedSize) fail('stored entry with differing sizes');
      return raw;
    }
    if (e.method === 8) {
      // Deflate cannot expand more than 1032:1, so a larger promise is a lie; and nothing inflates past the hard caps.
      if (e.size > MAX_INFLATED_ENTRY) fail(`inflates to ${e.size} bytes by its header, more than the ${MAX_INFLATED_ENTRY} bytes cbp inflates`);
      if (e.size > 1032 * e.compressedSize + 1024) fail(`claims ${e.size} bytes from ${e.compressedSize} deflated bytes, more than deflate can expand`);
      if (this.inflated + e.size > MAX_INFLATED_TOTAL) {
        throw new CbpError(`${this.file}: entry ${quoted(name)}: the archive's deflated entries inflate to more than ${MAX_INFLATED_TOTAL} bytes`, 'OVER_BUDGET');
      }
      let out: Buffer;
      try {
        // maxOutputLength stops zlib at the promised size, whatever the stream would go on to produce.
        out = zlib.inflateRawSync(raw, {maxOutputLength: Math.max(e.size, 1)});
      } catch (err) {
        return fail(`cannot inflate to the ${e.size} bytes its header promises (${errorMessage(err)})`);
      }
      if (out.length !== e.size) fail(`inflates to ${out.length} bytes, header says ${e.size}`);
      this.inflated += out.length;
      return out;
    }
    return fail(`compression method ${e.method} is not supported (expected stored or deflate)`);
  }
}

export function isZip(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;
}
