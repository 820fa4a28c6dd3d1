import {readBytes} from '../core/read';
import {CbpError, errorMessage} from '../core/errors';
import type {Tensor32} from '../core/weights';
import {PyGlobal, PyTuple, STORAGE_TYPES, unpickle, type PyValue, type StorageRef, type StorageType, type TensorRef} from './pickle';
import {ZipArchive, isZip} from './zip';

/** A checkpoint's top-level object and the bytes of each storage it refers to. */
export interface PthFile {
  readonly file: string;
  readonly format: 'zip' | 'legacy';
  readonly root: PyValue;
  readonly storages: Map<string, Uint8Array>;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function storageRef(pid: PyValue, file: string): StorageRef {
  if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length < 5) {
    throw new CbpError(`${file}: persistent id is not a ('storage', type, key, location, size) tuple`, 'BAD_PTH');
  }
  const [, type, key, , numel] = pid.items;
  if (!(type instanceof PyGlobal) || type.module !== 'torch' || !(type.name in STORAGE_TYPES)) {
    throw new CbpError(`${file}: storage type ${type instanceof PyGlobal ? type.qualified : String(type)} is not supported`, 'BAD_PTH');
  }
  const n = typeof numel === 'bigint' ? Number(numel) : numel;
  if (typeof key !== 'string' || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new CbpError(`${file}: storage with key ${String(key)} has no valid size`, 'BAD_PTH');
  }
  // Checked above: type.name is a key of STORAGE_TYPES (and a PyGlobal only ever holds an allowlisted global).
  return {kind: 'storage', dtype: type.name as StorageType, key, numel: n};
}

export function readPth(file: string): PthFile {
  return parsePth(readBytes(file), file);
}

/** Parses checkpoint bytes already in memory; `file` names them in errors. */
export function parsePth(buf: Uint8Array, file: string): PthFile {
  return isZip(buf) ? readZip(buf, file) : readLegacy(buf, file);
}

function readZip(buf: Uint8Array, file: string): PthFile {
  const zip = new ZipArchive(buf, file);
  const pkl = zip.names().find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
  if (pkl === undefined) throw new CbpError(`${file}: zip archive has no <root>/data.pkl (not a PyTorch checkpoint)`, 'BAD_PTH');
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const order = zip.entries.has(`${prefix}byteorder`) ? Buffer.from(zip.read(`${prefix}byteorder`)).toString('utf8').trim() : 'little';
  if (order !== 'little') throw new CbpError(`${file}: byteorder '${order}' is not supported, expected 'little'`, 'BAD_PTH');
  const refs: StorageRef[] = [];
  const {value} = unpickle(zip.read(pkl), file, (pid) => {
    const ref = storageRef(pid, file);
    refs.push(ref);
    return ref;
  });
  const storages = new Map<string, Uint8Array>();
  for (const ref of refs) {
    if (storages.has(ref.key)) continue;
    const data = zip.read(`${prefix}data/${ref.key}`);
    const want = ref.numel * STORAGE_TYPES[ref.dtype].bytes;
    if (data.length < want) throw new CbpError(`${file}: storage ${ref.key} claims ${want} bytes, the archive holds ${data.length}`, 'BAD_PTH');
    storages.set(ref.key, data);
  }
  return {file, format: 'zip', root: value, storages};
}

function readLegacy(buf: Uint8Array, file: string): PthFile {
  const none = (): never => {
    throw new CbpError(`${file}: persistent id before the main object`, 'BAD_PTH');
  };
  let magic: PyValue;
  let pos: number;
  try {
    ({value: magic, end: pos} = unpickle(buf, file, none));
  } catch (err) {
    throw new CbpError(`${file}: neither a zip archive nor a legacy PyTorch file (${errorMessage(err)})`, 'BAD_PTH');
  }
  if (magic !== LEGACY_MAGIC && !(typeof magic === 'number' && BigInt(magic) === LEGACY_MAGIC)) {
    throw new CbpError(`${file}: not a PyTorch checkpoint (wrong magic number)`, 'BAD_PTH');
  }
  const proto = unpickle(buf, file, none, pos);
  if (proto.value !== 1001) throw new CbpError(`${file}: legacy protocol ${String(proto.value)}, expected 1001`, 'BAD_PTH');
  const sys = unpickle(buf, file, none, proto.end);
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) throw new CbpError(`${file}: big-endian checkpoints are not supported`, 'BAD_PTH');
  const refs = new Map<string, StorageRef>();
  const main = unpickle(buf, file, (pid) => {
    const ref = storageRef(pid, file);
    refs.set(ref.key, ref);
    return ref;
  }, sys.end);
  const keys = unpickle(buf, file, none, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new CbpError(`${file}: storage key list is missing`, 'BAD_PTH');
  const storages = new Map<string, Uint8Array>();
  let at = keys.end;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const k of keys.value) {
    const ref = refs.get(k);
    if (ref === undefined) throw new CbpError(`${file}: storage '${k}' is listed but never used`, 'BAD_PTH');
    if (at + 8 > buf.length) throw new CbpError(`${file}: truncated before storage '${k}'`, 'BAD_PTH');
    const numel = view.getBigUint64(at, true);
    const bytes = numel * BigInt(STORAGE_TYPES[ref.dtype].bytes);
    if (bytes > BigInt(buf.length - at - 8)) throw new CbpError(`${file}: storage '${k}' claims ${bytes} bytes, only ${buf.length - at - 8} remain`, 'BAD_PTH');
    storages.set(k, buf.subarray(at + 8, at + 8 + Number(bytes)));
    at += 8 + Number(bytes);
  }
  return {file, format: 'legacy', root: main.value, storages};
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** A tensor's values as float32, honouring storage offset and strides; sizes are checked before allocating. */
export function materialize(pth: PthFile, t: TensorRef, name: string): Tensor32 {
  const data = pth.storages.get(t.storage.key);
  if (data === undefined) throw new CbpError(`${pth.file}: tensor '${name}' refers to missing storage ${t.storage.key}`, 'BAD_PTH');
  const {size, stride, offset} = t;
  if (size.length !== stride.length || size.some((d) => d < 0) || offset < 0) throw new CbpError(`${pth.file}: tensor '${name}' has an invalid size/stride`, 'BAD_PTH');
  const count = size.reduce((a, b) => a * b, 1);
  const elem = STORAGE_TYPES[t.storage.dtype].bytes;
  const available = Math.floor(data.length / elem);
  if (count > 0) {
    const last = offset + size.reduce((acc, d, i) => acc + (d - 1) * stride[i], 0);
    if (last >= available || last >= t.storage.numel) {
      throw new CbpError(`${pth.file}: tensor '${name}' [${size.join(', ')}] reaches element ${last} of a storage with ${Math.min(available, t.storage.numel)}`, 'BAD_PTH');
    }
    if (count > 16 * Math.max(available, 1) || count > 2 ** 30) {
      throw new CbpError(`${pth.file}: tensor '${name}' would expand ${available} stored values to ${count}`, 'BAD_PTH');
    }
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read: (i: number) => number = (() => {
    switch (t.storage.dtype) {
      case 'FloatStorage':
        return (i) => view.getFloat32(i * 4, true);
      case 'DoubleStorage':
        return (i) => view.getFloat64(i * 8, true);
      case 'HalfStorage':
        return (i) => halfToFloat(view.getUint16(i * 2, true));
      case 'BFloat16Storage':
        return (i) => {
          const b = new DataView(new ArrayBuffer(4));
          b.setUint32(0, view.getUint16(i * 2, true) << 16, true);
          return b.getFloat32(0, true);
        };
      case 'LongStorage':
        return (i) => Number(view.getBigInt64(i * 8, true));
      case 'IntStorage':
        return (i) => view.getInt32(i * 4, true);
      case 'ShortStorage':
        return (i) => view.getInt16(i * 2, true);
      case 'CharStorage':
        return (i) => view.getInt8(i);
      case 'ByteStorage':
      case 'BoolStorage':
        return (i) => view.getUint8(i);
    }
  })();
  const contiguous = stride.every((s, i) => s === size.slice(i + 1).reduce((a, b) => a * b, 1));
  if (contiguous && t.storage.dtype === 'FloatStorage' && (data.byteOffset + offset * 4) % 4 === 0) {
    // The common case (PyTorch aligns storages in the zip): a view on the file's bytes, no copy.
    return {shape: [...size], data: new Float32Array(data.buffer, data.byteOffset + offset * 4, count)};
  }
  const out = new Float32Array(count);
  const idx = new Array<number>(size.length).fill(0);
  for (let n = 0; n < count; n++) {
    let p = offset;
    for (let d = 0; d < size.length; d++) p += idx[d] * stride[d];
    out[n] = read(p);
    for (let d = size.length - 1; d >= 0; d--) {
      if (++idx[d] < size[d]) break;
      idx[d] = 0;
    }
  }
  return {shape: [...size], data: out};
}

function isTensor(v: PyValue): v is TensorRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'kind' in v && v.kind === 'tensor';
}

/**
 * The model's state dict inside any of the shapes people save: a bare state dict, `{model_state_dict: …}`,
 * `{state_dict: …}` (other keys such as optimizer state, `lamb` or `progress` are read but not used). A
 * `module.` prefix (DataParallel) is stripped.
 */
export function stateDict(pth: PthFile): Map<string, Tensor32> {
  let sd: PyValue = pth.root;
  if (sd instanceof Map) {
    for (const k of ['model_state_dict', 'state_dict', 'model']) {
      const inner = sd.get(k);
      if (inner instanceof Map) {
        sd = inner;
        break;
      }
    }
  }
  if (!(sd instanceof Map)) throw new CbpError(`${pth.file}: holds no state dict (expected a dict of tensors, or one under 'model_state_dict' or 'state_dict')`, 'BAD_PTH');
  const out = new Map<string, Tensor32>();
  for (const [k, v] of sd) {
    if (typeof k !== 'string' || !isTensor(v)) continue;
    const name = k.startsWith('module.') ? k.slice('module.'.length) : k;
    out.set(name, materialize(pth, v, k));
  }
  if (out.size === 0) throw new CbpError(`${pth.file}: the state dict holds no tensors`, 'BAD_PTH');
  return out;
}
