import {readBytes} from '../core/read';
import {CbpError, errorMessage} from '../core/errors';
import type {Tensor32} from '../core/weights';
import {PyGlobal, PyTuple, STORAGE_TYPES, describePy, unpickle, type PyValue, type StorageRef, type StorageType, type TensorRef} from './pickle';
import {ZipArchive, isZip} from './zip';
import {quoted} from '../core/shown';

/** A checkpoint's top-level object and the bytes of each storage it refers to. */
export interface PthFile {
  readonly file: string;
  readonly format: 'zip' | 'legacy';
  readonly root: PyValue;
  readonly storages: Map<string, Uint8Array>;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Longest storage key or location a checkpoint holds ('0', '94719338436608', 'cuda:0'). */
const MAX_KEY = 256;

/**
 * A persistent id, ('storage', type, key, location, numel), checked field by field and never walked into; the
 * legacy format adds a sixth, the view metadata (None, or a tuple this reader does not use).
 */
function storageRef(pid: PyValue, file: string): StorageRef {
  if (!(pid instanceof PyTuple) || pid.items.length < 5 || pid.items.length > 6 || pid.items[0] !== 'storage' || !(pid.items[5] === undefined || pid.items[5] === null || pid.items[5] instanceof PyTuple)) {
    throw new CbpError(`${file}: persistent id is ${describePy(pid)}, not a ('storage', type, key, location, size) tuple`, 'BAD_PTH');
  }
  const [, type, key, location, numel] = pid.items;
  if (!(type instanceof PyGlobal) || type.module !== 'torch' || !(type.name in STORAGE_TYPES)) {
    throw new CbpError(`${file}: storage type ${describePy(type)} is not supported (expected one of ${Object.keys(STORAGE_TYPES).join(', ')})`, 'BAD_PTH');
  }
  for (const [what, v] of [['key', key], ['location', location]] as const) {
    if (typeof v !== 'string' || v.length > MAX_KEY) throw new CbpError(`${file}: storage ${what} is ${describePy(v)}, expected a string of at most ${MAX_KEY} characters`, 'BAD_PTH');
  }
  const n = typeof numel === 'bigint' ? Number(numel) : numel;
  if (typeof key !== 'string' || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new CbpError(`${file}: storage with key ${describePy(key)} has size ${describePy(numel)}, expected a non-negative integer`, 'BAD_PTH');
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
  if (order !== 'little') throw new CbpError(`${file}: byteorder ${quoted(order)} is not supported, expected 'little'`, 'BAD_PTH');
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
  // The magic is wider than a double, so the reader keeps it as a bigint; a float or NaN there is simply wrong.
  if (magic !== LEGACY_MAGIC) {
    throw new CbpError(`${file}: not a PyTorch checkpoint (magic number ${describePy(magic)}, expected ${LEGACY_MAGIC})`, 'BAD_PTH');
  }
  const proto = unpickle(buf, file, none, pos);
  if (proto.value !== 1001) throw new CbpError(`${file}: legacy protocol ${describePy(proto.value)}, expected 1001`, 'BAD_PTH');
  const sys = unpickle(buf, file, none, proto.end);
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) throw new CbpError(`${file}: big-endian checkpoints are not supported`, 'BAD_PTH');
  const refs = new Map<string, StorageRef>();
  const main = unpickle(buf, file, (pid) => {
    const ref = storageRef(pid, file);
    refs.set(ref.key, ref);
    return ref;
  }, sys.end);
  const keys = unpickle(buf, file, none, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new CbpError(`${file}: storage key list is missing (found ${describePy(keys.value)})`, 'BAD_PTH');
  const storages = new Map<string, Uint8Array>();
  let at = keys.end;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const k of keys.value) {
    const ref = refs.get(k);
    if (ref === undefined) throw new CbpError(`${file}: storage ${quoted(k)} is listed but never used`, 'BAD_PTH');
    if (at + 8 > buf.length) throw new CbpError(`${file}: truncated before storage ${quoted(k)}`, 'BAD_PTH');
    const numel = view.getBigUint64(at, true);
    const bytes = numel * BigInt(STORAGE_TYPES[ref.dtype].bytes);
    if (bytes > BigInt(buf.length - at - 8)) throw new CbpError(`${file}: storage ${quoted(k)} claims ${bytes} bytes, only ${buf.length - at - 8} remain`, 'BAD_PTH');
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

/** Decoders of one element of each storage type, little-endian. */
function reader(dtype: StorageType, view: DataView): (i: number) => number {
  switch (dtype) {
    case 'FloatStorage':
      return (i) => view.getFloat32(i * 4, true);
    case 'DoubleStorage':
      return (i) => view.getFloat64(i * 8, true);
    case 'HalfStorage':
      return (i) => halfToFloat(view.getUint16(i * 2, true));
    case 'BFloat16Storage': {
      const b = new DataView(new ArrayBuffer(4));
      return (i) => {
        b.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        return b.getFloat32(0, true);
      };
    }
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
}

/** The most float32 values one tensor may hold (4 GiB). */
const MAX_TENSOR = 2 ** 30;

/**
 * What the tensors of one checkpoint may cost in memory beyond the file itself. Each storage is decoded to float32
 * at most once, however many tensors view it, and a contiguous tensor is a view of that, never a copy; only a
 * strided tensor is gathered into a copy. Decoded and gathered values together may not exceed twice the values
 * the storages hold, plus 16M (so a handful of transposed weights is always fine).
 */
class MaterializeBudget {
  private readonly decoded = new Map<string, Float32Array>();
  private spent = 0;

  constructor(private readonly pth: PthFile) {
    let stored = 0;
    for (const [, bytes] of pth.storages) stored += bytes.length / 2;
    this.limit = 2 * stored + 2 ** 24;
  }

  readonly limit: number;

  charge(values: number, name: string): void {
    this.spent += values;
    if (this.spent > this.limit) {
      throw new CbpError(`${this.pth.file}: tensor ${quoted(name)} would bring the values copied out of the storages to ${this.spent}, more than the limit of ${this.limit} (many strided views of the same storage?)`, 'OVER_BUDGET');
    }
  }

  /** A storage as float32 values, decoded once. */
  storage(ref: StorageRef, name: string): Float32Array {
    const cached = this.decoded.get(ref.key);
    if (cached !== undefined) return cached;
    const data = this.pth.storages.get(ref.key);
    if (data === undefined) throw new CbpError(`${this.pth.file}: tensor ${quoted(name)} refers to missing storage ${quoted(ref.key)}`, 'BAD_PTH');
    const elem = STORAGE_TYPES[ref.dtype].bytes;
    const n = Math.min(Math.floor(data.length / elem), ref.numel);
    let values: Float32Array;
    if (ref.dtype === 'FloatStorage' && data.byteOffset % 4 === 0) {
      // The common case (PyTorch aligns storages in the zip): a view on the file's bytes, no copy.
      values = new Float32Array(data.buffer, data.byteOffset, n);
    } else {
      this.charge(n, name);
      const read = reader(ref.dtype, new DataView(data.buffer, data.byteOffset, data.byteLength));
      values = new Float32Array(n);
      for (let i = 0; i < n; i++) values[i] = read(i);
    }
    this.decoded.set(ref.key, values);
    return values;
  }
}

/**
 * A tensor's values as float32, honouring storage offset and strides. Every size, stride and offset is checked
 * as a non-negative integer that keeps the tensor inside its storage before anything is allocated.
 */
function materialize(pth: PthFile, t: TensorRef, name: string, budget = new MaterializeBudget(pth)): Tensor32 {
  const {size, stride, offset} = t;
  const bad = (why: string): never => {
    throw new CbpError(`${pth.file}: tensor ${quoted(name)} ${why}`, 'BAD_PTH');
  };
  if (size.length !== stride.length) bad(`has ${size.length} sizes but ${stride.length} strides`);
  const values = budget.storage(t.storage, name);
  const available = values.length;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > available) bad(`has storage offset ${offset}, expected an integer in [0, ${available}]`);
  let count = 1;
  for (const [i, d] of size.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) bad(`has size ${d} in dimension ${i}, expected a non-negative integer`);
    if (!Number.isSafeInteger(stride[i]) || stride[i] < 0) bad(`has stride ${stride[i]} in dimension ${i}, expected a non-negative integer`);
    count *= d;
    if (count > MAX_TENSOR) bad(`[${size.join(', ')}] holds more than ${MAX_TENSOR} values`);
  }
  if (count > 0) {
    let last = offset;
    for (const [i, d] of size.entries()) {
      // Each term is checked as it is added, so the sum never leaves the safe integers.
      if (d > 1 && stride[i] > available) bad(`has stride ${stride[i]} in dimension ${i}, past its storage of ${available} values`);
      last += (d - 1) * stride[i];
      if (last >= available) bad(`[${size.join(', ')}] (offset ${offset}, strides [${stride.join(', ')}]) reaches element ${last} of a storage with ${available}`);
    }
  }
  let expected = 1;
  let contiguous = true;
  for (let i = size.length - 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expected) contiguous = false;
    expected *= size[i];
  }
  if (contiguous) return {shape: [...size], data: values.subarray(offset, offset + count)};
  budget.charge(count, name);
  const out = new Float32Array(count);
  const idx = new Array<number>(size.length).fill(0);
  for (let n = 0; n < count; n++) {
    let p = offset;
    for (let d = 0; d < size.length; d++) p += idx[d] * stride[d];
    out[n] = values[p];
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
  const budget = new MaterializeBudget(pth);
  for (const [k, v] of sd) {
    if (typeof k !== 'string' || !isTensor(v)) continue;
    const name = k.startsWith('module.') ? k.slice('module.'.length) : k;
    // Errors name the key as written, cut short: a key is text the file chose, up to the reader's 64 MiB.
    out.set(name, materialize(pth, v, k.length > 200 ? `${k.slice(0, 200)}…` : k, budget));
  }
  if (out.size === 0) throw new CbpError(`${pth.file}: the state dict holds no tensors`, 'BAD_PTH');
  return out;
}
