import {CbpError} from '../core/errors';
import {quoted} from '../core/shown';

/**
 * A pickle reader for PyTorch checkpoints. It interprets the pickle opcodes as data only: a GLOBAL that is not
 * on the allowlist below is refused by name at once, so nothing a file names is ever called, and the few allowed
 * globals are re-implemented here as plain data constructors (no Python is involved at all).
 */

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A reference to an allowed global that is data, not a callable (storage types, numpy.ndarray). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface StorageRef {
  readonly kind: 'storage';
  readonly dtype: StorageType;
  readonly key: string;
  readonly numel: number;
}

export interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly size: readonly number[];
  readonly stride: readonly number[];
}

/** A NumPy array or dtype, kept as inert data (CBP checkpoints pickle a progress array). */
export class NdArray {
  shape: number[] = [];
  dtype = '';
  data: Uint8Array = new Uint8Array(0);
}

export class NpDtype {
  constructor(readonly descr: string) {}
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | Map<PyKey, PyValue>
  | PyGlobal
  | StorageRef
  | TensorRef
  | NdArray
  | NpDtype
  | Set<PyKey>;

export type PyKey = string | number | bigint | boolean | null;

export const STORAGE_TYPES = {
  FloatStorage: {bytes: 4, name: 'float32'},
  DoubleStorage: {bytes: 8, name: 'float64'},
  HalfStorage: {bytes: 2, name: 'float16'},
  BFloat16Storage: {bytes: 2, name: 'bfloat16'},
  LongStorage: {bytes: 8, name: 'int64'},
  IntStorage: {bytes: 4, name: 'int32'},
  ShortStorage: {bytes: 2, name: 'int16'},
  CharStorage: {bytes: 1, name: 'int8'},
  ByteStorage: {bytes: 1, name: 'uint8'},
  BoolStorage: {bytes: 1, name: 'bool'},
} as const;
export type StorageType = keyof typeof STORAGE_TYPES;

/**
 * What a constructor may use of the reader: the file's name for errors, the work and byte budgets for anything it
 * copies, and dictionary keys as the reader makes them (charged).
 */
interface CallContext {
  readonly file: string;
  charge(units: number): void;
  chargeBytes(n: number): void;
  key(k: PyValue): PyKey;
  /** The largest container the reader builds (a dict made by a constructor counts like one made by SETITEMS). */
  readonly maxItems: number;
}

/**
 * A data constructor. The rule for every one of them (and for the opcodes): an argument is checked one level deep,
 * by type, and nothing walks into it: no String(), join, comparison, copy or conversion of a list, tuple or dict
 * the file built, since a value shared through the memo may be 2^40 items as a tree in a few hundred bytes. What is
 * copied is charged to the reader's work budget item by item; error messages describe values with describePy.
 */
type Callable = (args: readonly PyValue[], cx: CallContext) => PyValue;

/**
 * A short description of a value for error messages, never walking into it: a value from a hostile pickle may be
 * nested a million levels deep or share one list a billion ways, and String() of such a list would recurse or
 * explode.
 */
export function describePy(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (v instanceof Set) return `a set of ${v.size}`;
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof NdArray) return 'a numpy array';
  if (v instanceof NpDtype) return `numpy dtype ${describePy(v.descr)}`;
  return v.kind === 'storage' ? `storage ${describePy(v.key)}` : 'a tensor';
}

function bad(file: string, why: string): never {
  throw new CbpError(`${file}: ${why}`, 'BAD_PTH');
}

function num(v: PyValue, what: string, file: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v);
  return bad(file, `${what} is ${describePy(v)}, expected an integer`);
}

/** More dimensions than any tensor a model holds (PyTorch itself stops at 64). */
export const MAX_DIMS = 64;

function intList(v: PyValue, what: string, file: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (items === null) return bad(file, `${what} is ${describePy(v)}, expected a tuple of integers`);
  if (items.length > MAX_DIMS) return bad(file, `${what} has ${items.length} entries, expected at most ${MAX_DIMS}`);
  return items.map((x, i) => num(x, `${what}[${i}]`, file));
}

/** Longest name a constructor takes as text (a dtype such as '<f8' or 'M8[ns]', a device such as 'cuda'). */
const MAX_NAME = 64;

function name(v: PyValue, what: string, file: string): string {
  if (typeof v !== 'string') return bad(file, `${what} is ${describePy(v)}, expected a string`);
  if (v.length > MAX_NAME) return bad(file, `${what} is a string of ${v.length} characters, expected at most ${MAX_NAME}`);
  return v;
}

function bool(v: PyValue, what: string, file: string): boolean {
  return typeof v === 'boolean' ? v : bad(file, `${what} is ${describePy(v)}, expected True or False`);
}

function isScalar(v: PyValue): v is PyKey {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean';
}

/** A dict of scalars or None (PyTorch's backward hooks, always an empty OrderedDict, and tensor metadata). */
function scalarDict(v: PyValue, what: string, cx: CallContext): void {
  if (v === null) return;
  if (!(v instanceof Map)) return bad(cx.file, `${what} is ${describePy(v)}, expected a dict`);
  cx.charge(v.size);
  for (const [k, x] of v) if (!isScalar(x)) bad(cx.file, `${what}[${describePy(k)}] is ${describePy(x)}, expected a plain value`);
}

/** The arguments of `fn`, between `min` and `max` of them. */
function arity(args: readonly PyValue[], min: number, max: number, fn: string, file: string): readonly PyValue[] {
  if (args.length < min || args.length > max) {
    bad(file, `${fn} takes ${min === max ? min : `${min} to ${max}`} arguments, the pickle gives ${args.length}`);
  }
  return args;
}

function isTensorRef(v: PyValue): v is TensorRef {
  return typeof v === 'object' && v !== null && 'kind' in v && v.kind === 'tensor';
}

/** _rebuild_tensor(storage, offset, size, stride) and _v2(…, requires_grad, backward_hooks[, metadata]). */
const rebuildTensor = (fn: string, min: number, max: number): Callable => (args, cx) => {
  const [storage, offset, size, stride, requiresGrad, hooks, metadata] = arity(args, min, max, fn, cx.file);
  if (typeof storage !== 'object' || storage === null || !('kind' in storage) || storage.kind !== 'storage') {
    return bad(cx.file, `${fn} got ${describePy(storage)} where a storage belongs`);
  }
  if (args.length > 4) {
    bool(requiresGrad, `${fn} requires_grad`, cx.file);
    scalarDict(hooks, `${fn} backward hooks`, cx);
  }
  if (args.length > 6) scalarDict(metadata, `${fn} metadata`, cx);
  return {kind: 'tensor', storage, offset: num(offset, 'tensor storage offset', cx.file), size: intList(size, 'tensor size', cx.file), stride: intList(stride, 'tensor stride', cx.file)};
};

/** _rebuild_parameter(data, requires_grad, backward_hooks) and _with_state(…, state): the tensor itself. */
const rebuildParameter = (fn: string, n: number): Callable => (args, cx) => {
  const [data, requiresGrad, hooks] = arity(args, n, n, fn, cx.file);
  if (!isTensorRef(data)) return bad(cx.file, `${fn} got ${describePy(data)} where a tensor belongs`);
  bool(requiresGrad, `${fn} requires_grad`, cx.file);
  scalarDict(hooks, `${fn} backward hooks`, cx);
  // The state of a Parameter subclass (its __dict__ and slots) is kept by nobody, so it is never looked into.
  return data;
};

/** numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'): an empty array that BUILD fills. */
const reconstruct = (fn: string): Callable => (args, cx) => {
  const [subtype, shape, code] = arity(args, 3, 3, fn, cx.file);
  if (!(subtype instanceof PyGlobal) || subtype.qualified !== 'numpy.ndarray') return bad(cx.file, `${fn} of ${describePy(subtype)}, expected numpy.ndarray`);
  intList(shape, `${fn} shape`, cx.file);
  if (!(code instanceof Uint8Array) && typeof code !== 'string') return bad(cx.file, `${fn} type code is ${describePy(code)}, expected bytes`);
  return new NdArray();
};

/** The only globals a checkpoint may name, each a data constructor written here. */
const CALLABLES: Record<string, Callable> = {
  // OrderedDict() as Python 3 pickles it (items follow by SETITEMS), or OrderedDict([[k, v], …]) as Python 2 does.
  'collections.OrderedDict': (args, cx) => {
    const [items] = arity(args, 0, 1, 'collections.OrderedDict', cx.file);
    const m = new Map<PyKey, PyValue>();
    if (items === undefined) return m;
    const pairs = items instanceof PyTuple ? items.items : Array.isArray(items) ? items : bad(cx.file, `collections.OrderedDict of ${describePy(items)}, expected a list of pairs`);
    if (pairs.length > cx.maxItems) return bad(cx.file, `collections.OrderedDict of ${pairs.length} items, more than ${cx.maxItems}`);
    cx.charge(pairs.length);
    for (const p of pairs) {
      const kv = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : null;
      if (kv === null || kv.length !== 2) return bad(cx.file, `collections.OrderedDict item is ${describePy(p)}, expected a (key, value) pair`);
      m.set(cx.key(kv[0]), kv[1]);
    }
    return m;
  },
  'torch._utils._rebuild_tensor_v2': rebuildTensor('torch._utils._rebuild_tensor_v2', 6, 7),
  'torch._utils._rebuild_tensor': rebuildTensor('torch._utils._rebuild_tensor', 4, 4),
  'torch._utils._rebuild_parameter': rebuildParameter('torch._utils._rebuild_parameter', 3),
  'torch._utils._rebuild_parameter_with_state': rebuildParameter('torch._utils._rebuild_parameter_with_state', 4),
  // torch.device('cuda', 0) or torch.device('cpu'): kept as the text 'cuda:0', 'cpu'.
  'torch.device': (args, cx) => {
    const [type, index] = arity(args, 1, 2, 'torch.device', cx.file);
    const t = name(type, 'torch.device type', cx.file);
    return index === undefined || index === null ? t : `${t}:${num(index, 'torch.device index', cx.file)}`;
  },
  'torch.Size': (args, cx) => intList(arity(args, 1, 1, 'torch.Size', cx.file)[0], 'torch.Size', cx.file),
  'numpy.core.multiarray._reconstruct': reconstruct('numpy.core.multiarray._reconstruct'),
  'numpy._core.multiarray._reconstruct': reconstruct('numpy._core.multiarray._reconstruct'),
  // numpy.dtype('f8', False, True): the type string; the flags (align, copy) change nothing here.
  'numpy.dtype': (args, cx) => {
    const [descr, align, copy] = arity(args, 1, 3, 'numpy.dtype', cx.file);
    if (align !== undefined) bool(align, 'numpy.dtype align', cx.file);
    if (copy !== undefined) bool(copy, 'numpy.dtype copy', cx.file);
    return new NpDtype(name(descr, 'numpy.dtype', cx.file));
  },
  'numpy.core.multiarray.scalar': (args, cx) => npScalar(arity(args, 2, 2, 'numpy.core.multiarray.scalar', cx.file), cx.file),
  'numpy._core.multiarray.scalar': (args, cx) => npScalar(arity(args, 2, 2, 'numpy._core.multiarray.scalar', cx.file), cx.file),
  // Protocol 2 pickles Python bytes as _codecs.encode(text, 'latin1').
  '_codecs.encode': (args, cx) => {
    const [text, encoding] = arity(args, 2, 2, '_codecs.encode', cx.file);
    if (typeof text !== 'string') return bad(cx.file, `_codecs.encode of ${describePy(text)}, expected a string`);
    if (encoding !== 'latin1' && encoding !== 'latin-1') return bad(cx.file, `_codecs.encode to ${describePy(encoding)}, expected 'latin1'`);
    return Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);
  },
};

const DATA_GLOBALS = new Set<string>([...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`), 'numpy.ndarray', 'torch.float32', 'torch.strided']);

export const ALLOWED_GLOBALS: readonly string[] = [...Object.keys(CALLABLES), ...DATA_GLOBALS].sort();

function npScalar(args: readonly PyValue[], file: string): PyValue {
  const [dtype, bytes] = args;
  if (!(dtype instanceof NpDtype) || !(bytes instanceof Uint8Array)) return bad(file, `malformed numpy scalar (${describePy(dtype)}, ${describePy(bytes)})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number): void => {
    if (bytes.length < n) bad(file, `numpy scalar of type ${describePy(dtype.descr)} has ${bytes.length} bytes`);
  };
  switch (dtype.descr) {
    case 'f8':
      need(8);
      return view.getFloat64(0, true);
    case 'f4':
      need(4);
      return view.getFloat32(0, true);
    case 'i8':
      need(8);
      return Number(view.getBigInt64(0, true));
    case 'i4':
      need(4);
      return view.getInt32(0, true);
    default:
      return null;
  }
}

/**
 * BUILD: an object takes its state. A NumPy array takes (version, shape, dtype, is_fortran, data) (or the four
 * without the version); a dtype its tuple (byte order and flags, which change nothing here, so never looked into);
 * a dict merges a dict. Nothing else a checkpoint builds from the allowlist has a state.
 */
function build(obj: PyValue, state: PyValue, cx: CallContext): void {
  if (obj instanceof NdArray) {
    const items = state instanceof PyTuple && (state.items.length === 5 || state.items.length === 4) ? state.items : bad(cx.file, `numpy array state is ${describePy(state)}, expected a tuple of 4 or 5`);
    const [shape, dtype, fortran, data] = items.length === 5 ? items.slice(1) : items;
    if (items.length === 5) num(items[0], 'numpy array state version', cx.file);
    obj.shape = intList(shape, 'numpy shape', cx.file);
    if (!(dtype instanceof NpDtype)) return bad(cx.file, `numpy array dtype is ${describePy(dtype)}, expected a numpy.dtype`);
    obj.dtype = dtype.descr;
    bool(fortran, 'numpy array is_fortran', cx.file);
    if (data instanceof Uint8Array) obj.data = data;
    else if (typeof data === 'string') {
      cx.charge(data.length);
      obj.data = Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff);
    } else if (!(Array.isArray(data) && /^[|<>=]?O/.test(dtype.descr))) {
      // An object array pickles its items as a list; it is kept as an array with no data, the list never walked.
      bad(cx.file, `numpy array data is ${describePy(data)}, expected bytes`);
    }
  } else if (obj instanceof NpDtype) {
    if (!(state instanceof PyTuple)) bad(cx.file, `numpy dtype state is ${describePy(state)}, expected a tuple`);
  } else if (obj instanceof Map) {
    if (!(state instanceof Map)) return bad(cx.file, `the state of a dict is ${describePy(state)}, expected a dict`);
    cx.charge(state.size);
    for (const [k, v] of state) obj.set(k, v);
  } else {
    bad(cx.file, `BUILD on ${describePy(obj)}, which takes no state`);
  }
}

export interface PickleLimits {
  /** Largest number of values on the stack and in all marked frames together. */
  readonly maxStack: number;
  readonly maxMemo: number;
  /** Deepest MARK nesting. */
  readonly maxDepth: number;
  /**
   * Work: one unit per opcode plus one per value copied or visited by it (the items a TUPLE, LIST, APPENDS or
   * SETITEMS moves, a tuple key hashed, a dict state merged, the characters of a string decoded). A value reached
   * again through the memo costs nothing more, so a DAG that would be exponential as a tree costs what is on disk.
   */
  readonly maxWork: number;
  /** Characters of text and bytes decoded into new strings or arrays (byte strings are views of the file: free). */
  readonly maxBytes: number;
}

/**
 * The defaults: measured, a full ResNet-50 state dict holds at most 754 values at once and costs 21,577 units of
 * work, the ResNet-18 CBP training fixture (optimizer state, λ, progress) 292 and 13,250; these limits are ~1,000×
 * that, yet keep a hostile pickle to about a second and a few hundred MB.
 */
export const DEFAULT_LIMITS: PickleLimits = {maxStack: 1_000_000, maxMemo: 1_000_000, maxDepth: 1_000, maxWork: 20_000_000, maxBytes: 64 * 1024 * 1024};

export interface PickleResult {
  readonly value: PyValue;
  /** Offset just past the STOP opcode (the legacy format has several pickles in a row). */
  readonly end: number;
}

/**
 * Runs one pickle from `start`. `persistentLoad` turns a persistent id (PyTorch's storage tuple) into a value.
 */
export function unpickle(buf: Uint8Array, file: string, persistentLoad: (pid: PyValue) => PyValue, start = 0, limits: PickleLimits = DEFAULT_LIMITS): PickleResult {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = start;
  let stack: PyValue[] = [];
  const marks: PyValue[][] = [];
  // Values held in all frames together (the current stack plus every frame a MARK set aside).
  let held = 0;
  let work = 0;
  let decoded = 0;
  const memo = new Map<number, PyValue>();
  // Typed on the name so that a call narrows like a throw (`if (!ok) fail(…)`).
  const fail: (why: string) => never = (why) => {
    throw new CbpError(`${file}: bad pickle at byte ${pos}: ${why}`, 'BAD_PTH');
  };
  const over = (why: string): never => {
    throw new CbpError(`${file}: refused at byte ${pos} of the pickle: ${why} (limits: docs/RELIABILITY.md)`, 'OVER_BUDGET');
  };
  const charge = (units: number): void => {
    work += units;
    if (work > limits.maxWork) over(`it asks for more than ${limits.maxWork} units of work (values built, copied or visited)`);
  };
  const chargeBytes = (n: number): void => {
    decoded += n;
    if (decoded > limits.maxBytes) over(`it decodes more than ${limits.maxBytes} bytes of text`);
    charge(n >> 6);
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > buf.length) fail(`needs ${n} more bytes, the file ends (truncated?)`);
  };
  const u8 = (): number => (need(1), buf[pos++]);
  const u16 = (): number => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const i32 = (): number => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u32 = (): number => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(buf.length)) fail(`claims a length of ${v} bytes, more than the whole file`);
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return buf.subarray(pos - n, pos);
  };
  const text = (n: number): string => {
    chargeBytes(n);
    return Buffer.from(bytes(n)).toString('utf8');
  };
  const latin1 = (n: number): string => {
    chargeBytes(n);
    return Buffer.from(bytes(n)).toString('latin1');
  };
  const line = (): string => {
    const endAt = buf.indexOf(0x0a, pos);
    if (endAt < 0) fail('unterminated text line');
    chargeBytes(endAt - pos);
    const s = Buffer.from(buf.subarray(pos, endAt)).toString('latin1');
    pos = endAt + 1;
    return s;
  };
  const push = (v: PyValue): void => {
    if (held >= limits.maxStack) over(`more than ${limits.maxStack} values on the stack and in its marked frames`);
    held++;
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0) fail('pop from an empty stack');
    held--;
    const v = stack.pop();
    return v === undefined ? fail('pop from an empty stack') : v;
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail('empty stack');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    stack = marks.pop() ?? fail('no MARK to pop to');
    held -= items.length;
    charge(items.length);
    return items;
  };
  const memoPut = (i: number): void => {
    if (memo.size >= limits.maxMemo && !memo.has(i)) over(`more than ${limits.maxMemo} memo entries`);
    memo.set(i, top());
  };
  const memoGet = (i: number): void => {
    const v = memo.get(i);
    push(v === undefined ? fail(`memo entry ${i} was never stored`) : v);
  };
  const key = (k: PyValue): PyKey => {
    if (isScalar(k)) return k;
    if (k instanceof PyTuple) {
      // Only flat tuples of scalars: a state dict needs no more, and a nested key could be a DAG of any size. The
      // key is new text: its length is charged, since one long string named many times would join to gigabytes.
      charge(k.items.length);
      let length = 0;
      const parts = k.items.map((x) => {
        if (!isScalar(x)) fail(`dictionary key holds ${describePy(x)}`);
        const part = String(x);
        length += part.length + 2;
        return part;
      });
      chargeBytes(length);
      return `(${parts.join(', ')})`;
    }
    return fail(`unhashable dictionary key (${describePy(k)})`);
  };
  const cx: CallContext = {file, charge, chargeBytes, key, maxItems: limits.maxStack};
  const setItems = (target: PyValue, items: PyValue[]): void => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2 !== 0) fail('odd number of items for a dict');
    charge(items.length);
    for (let i = 0; i < items.length; i += 2) target.set(key(items[i]), items[i + 1]);
    if (target.size > limits.maxStack) over(`a dict of more than ${limits.maxStack} items`);
  };
  const global = (module: string, name: string): void => {
    const q = `${module}.${name}`;
    if (q in CALLABLES || DATA_GLOBALS.has(q)) {
      push(new PyGlobal(module, name));
      return;
    }
    throw new CbpError(
      `${file}: refused: the pickle names the global ${quoted(q)}, which a state dict never needs; nothing was executed ` +
        `(allowed: ${ALLOWED_GLOBALS.join(', ')})`,
      'FORBIDDEN_GLOBAL',
    );
  };
  const decodeLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    charge(1);
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        need(8);
        pos += 8;
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) fail(`STOP with ${held} values on the stack`);
        return {value: stack[0], end: pos};
      case 0x28: // MARK
        if (marks.length >= limits.maxDepth) fail(`nesting deeper than ${limits.maxDepth}`);
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(decodeLong(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n > 64) fail(`integer of ${n} bytes`);
        push(decodeLong(bytes(n)));
        break;
      }
      case 0x49: {
        // INT (text): also True/False as 01/00
        const s = line();
        push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: // LONG (text)
        push(Number.parseInt(line().replace(/L$/, ''), 10));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT (text)
        push(Number.parseFloat(line()));
        break;
      case 0x58: // BINUNICODE
        push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x54: // BINSTRING
        push(latin1(i32()));
        break;
      case 0x55: // SHORT_BINSTRING
        push(latin1(u8()));
        break;
      case 0x42: // BINBYTES
        push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
        push(bytes(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND to something that is not a list');
        l.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS to something that is not a list');
        for (const v of items) l.push(v);
        if (l.length > limits.maxStack) over(`a list of more than ${limits.maxStack} items`);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x64: {
        // DICT
        const m = new Map<PyKey, PyValue>();
        setItems(m, popMark());
        push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS to something that is not a set');
        for (const v of items) s.add(key(v));
        if (s.size > limits.maxStack) over(`a set of more than ${limits.maxStack} items`);
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark().map(key)));
        break;
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x70: // PUT (text)
        memoPut(Number.parseInt(line(), 10));
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        memoGet(u8());
        break;
      case 0x6a: // LONG_BINGET
        memoGet(u32());
        break;
      case 0x67: // GET (text)
        memoGet(Number.parseInt(line(), 10));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(`STACK_GLOBAL of ${describePy(module)} and ${describePy(name)}, expected two strings`);
        global(module, name);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal) || !(fn.qualified in CALLABLES)) fail(`REDUCE on ${fn instanceof PyGlobal ? `${quoted(fn.qualified)}, which is data, not a constructor` : 'a non-global'}`);
        if (!(args instanceof PyTuple)) fail(`REDUCE arguments are ${describePy(args)}, expected a tuple`);
        const argv = args.items;
        // A constructor may copy its arguments (torch.Size, _codecs.encode): their size is work.
        charge(argv.reduce<number>((n, a) => n + (a instanceof PyTuple ? a.items.length : Array.isArray(a) ? a.length : typeof a === 'string' ? a.length : 1), 0));
        push(CALLABLES[fn.qualified](argv, cx));
        break;
      }
      case 0x62: {
        // BUILD: set an object's state (see build).
        const state = pop();
        const obj = top();
        build(obj, state, cx);
        if (obj instanceof Map && obj.size > limits.maxStack) over(`a dict of more than ${limits.maxStack} items`);
        break;
      }
      case 0x51: // BINPERSID
        push(persistentLoad(pop()));
        break;
      case 0x50: // PERSID (text)
        push(persistentLoad(line()));
        break;
      case 0x81: // NEWOBJ
      case 0x92: // NEWOBJ_EX
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x82: // EXT1
      case 0x83:
      case 0x84:
      case 0x96: // BYTEARRAY8
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        fail(`opcode 0x${op.toString(16)} builds arbitrary objects; a state dict never needs it`);
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16)}`);
    }
  }
}
