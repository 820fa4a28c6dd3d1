import * as zlib from 'node:zlib';

export interface ZipInput {
  readonly name: string;
  readonly data: Uint8Array;
  /** Deflate the entry (torch stores them); `claimSize` overrides the uncompressed size the directory states. */
  readonly deflate?: boolean;
  readonly claimSize?: number;
}

/** A zip archive as PyTorch lays it out (local headers, central directory, end record); CRCs are left zero. */
export function makeZip(entries: readonly ZipInput[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const body = e.deflate === true ? zlib.deflateRawSync(e.data) : Buffer.from(e.data);
    const name = Buffer.from(e.name, 'utf8');
    const size = e.claimSize ?? e.data.length;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(e.deflate === true ? 8 : 0, 8);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(size, 22);
    lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(e.deflate === true ? 8 : 0, 10);
    ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(size, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, body);
    central.push(ch, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** A .pth zip: archive/data.pkl, archive/byteorder and one entry per storage. */
export function pthZip(pickle: Buffer, storages: Readonly<Record<string, Uint8Array>>, opts: {deflate?: boolean; claimSize?: number} = {}): Buffer {
  return makeZip([
    {name: 'archive/data.pkl', data: pickle},
    {name: 'archive/byteorder', data: Buffer.from('little')},
    ...Object.entries(storages).map(([k, data]) => ({name: `archive/data/${k}`, data, ...opts})),
  ]);
}
