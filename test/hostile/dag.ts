import {PickleWriter, stateDictPickle} from './pickle';
import {pthZip} from './zip';

/**
 * Shared-reference DAGs handed to every place of the unpickler that takes a value the file built: each argument of
 * each allowlisted global (REDUCE), BUILD states, persistent ids, dict and set keys, STACK_GLOBAL, the legacy header.
 * A DAG of depth 40 is a few hundred bytes on disk and 2^40 items as a tree, so any walk, copy, comparison or
 * formatting of it that is not charged to the work budget hangs or runs out of memory. Built in the test, no
 * fixture: every case is a small .pth archive.
 */
export type DagKind = 'list' | 'tuple' | 'dict';
export const DAG_KINDS: readonly DagKind[] = ['list', 'tuple', 'dict'];
export const DAG_DEPTH = 40;

/** Pushes a DAG of `kind`, each level holding the level below twice (memo slots from `memo` on; 2^depth leaves). */
export function dag(w: PickleWriter, kind: DagKind, depth = DAG_DEPTH, memo = 5000): PickleWriter {
  w.mark().int(1).str('leaf').op(kind === 'tuple' ? 0x74 : 0x6c).put(memo);
  for (let d = 1; d <= depth; d++) {
    w.op(0x30); // POP: the level below stays reachable through the memo only
    if (kind === 'list') w.mark().get(memo + d - 1).get(memo + d - 1).list();
    else if (kind === 'tuple') w.get(memo + d - 1).get(memo + d - 1).op(0x86); // TUPLE2
    else w.emptyDict().mark().str('a').get(memo + d - 1).str('b').get(memo + d - 1).setitems();
    w.put(memo + d);
  }
  return w;
}

type Write = (w: PickleWriter) => void;

const storage: Write = (w) => {
  w.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(4).tuple().op(0x51); // BINPERSID
};
const orderedDict: Write = (w) => {
  w.global('collections', 'OrderedDict').op(0x29).reduce(); // OrderedDict(())
};
const tensor: Write = (w) => {
  w.global('torch._utils', '_rebuild_tensor_v2').mark();
  storage(w);
  w.int(0).ints([4]).ints([1]).op(0x89);
  orderedDict(w);
  w.tuple().reduce();
};
const bytes = (n: number): Write => (w) => {
  w.raw(Buffer.from([0x43, n, ...new Array<number>(n).fill(0)])); // SHORT_BINBYTES
};
const dtype = (descr: string): Write => (w) => {
  w.global('numpy', 'dtype').mark().str(descr).op(0x89).op(0x88).tuple().reduce();
};
const ndarray: Write = (w) => {
  w.global('numpy.core.multiarray', '_reconstruct').mark().global('numpy', 'ndarray').ints([0]).raw(Buffer.from([0x43, 1, 0x62])).tuple().reduce();
};
export interface GlobalCase {
  /** Arguments PyTorch or NumPy pickle for it; null for a global that is data (storage types), never called. */
  readonly args: readonly Write[] | null;
  /** Argument positions that are kept or dropped without being looked into (a DAG there is harmless data). */
  readonly inert?: readonly number[];
}

/** Legitimate arguments of every allowlisted global, as torch.save and NumPy write them. */
export const GLOBAL_CASES: Record<string, GlobalCase> = {
  'collections.OrderedDict': {args: [(w) => w.mark().mark().str('a').int(1).tuple().list()]}, // Python 2: OrderedDict([('a', 1)])
  'torch._utils._rebuild_tensor_v2': {args: [storage, (w) => w.int(0), (w) => w.ints([4]), (w) => w.ints([1]), (w) => w.op(0x89), orderedDict]},
  'torch._utils._rebuild_tensor': {args: [storage, (w) => w.int(0), (w) => w.ints([4]), (w) => w.ints([1])]},
  'torch._utils._rebuild_parameter': {args: [tensor, (w) => w.op(0x88), orderedDict]},
  'torch._utils._rebuild_parameter_with_state': {args: [tensor, (w) => w.op(0x88), orderedDict, (w) => w.none()], inert: [3]},
  'torch.device': {args: [(w) => w.str('cuda'), (w) => w.int(0)]},
  'torch.Size': {args: [(w) => w.ints([2, 3])]},
  'numpy.core.multiarray._reconstruct': {args: [(w) => w.global('numpy', 'ndarray'), (w) => w.ints([0]), bytes(1)]},
  'numpy._core.multiarray._reconstruct': {args: [(w) => w.global('numpy', 'ndarray'), (w) => w.ints([0]), bytes(1)]},
  'numpy.dtype': {args: [(w) => w.str('f8'), (w) => w.op(0x89), (w) => w.op(0x88)]},
  'numpy.core.multiarray.scalar': {args: [dtype('f8'), bytes(8)]},
  'numpy._core.multiarray.scalar': {args: [dtype('f8'), bytes(8)]},
  '_codecs.encode': {args: [(w) => w.str('abc'), (w) => w.str('latin1')]},
  'numpy.ndarray': {args: null},
  'torch.float32': {args: null},
  'torch.strided': {args: null},
  ...Object.fromEntries(
    ['Float', 'Double', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map((t) => [`torch.${t}Storage`, {args: null}]),
  ),
};

export interface DagCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** 'refuse': must end in a CbpError naming the file; 'either': harmless data, may also load. */
  readonly expect: 'refuse' | 'either';
}

/** `{'model_state_dict': {'w': tensor}, 'probe': <what probe pushes>}` with storage '0' of 4 floats. */
export function probeFile(probe: Write): Uint8Array {
  const pkl = stateDictPickle([{key: 'w', storage: '0', numel: 4, offset: 0, size: [4], stride: [1]}], (w) => {
    w.str('probe');
    probe(w);
  });
  return pthZip(pkl, {'0': new Uint8Array(16)});
}

const call = (global: string, args: readonly Write[]): Write => (w) => {
  const dot = global.lastIndexOf('.');
  w.global(global.slice(0, dot), global.slice(dot + 1)).mark();
  for (const a of args) a(w);
  w.tuple().reduce();
};

/** Each global's legitimate call: these must load. */
export function legitCalls(): {name: string; bytes: Uint8Array}[] {
  return Object.entries(GLOBAL_CASES)
    .filter(([, c]) => c.args !== null)
    .map(([g, c]) => ({name: `legit-${g}`, bytes: probeFile(call(g, c.args ?? []))}));
}

export function dagCases(kinds: readonly DagKind[] = DAG_KINDS): DagCase[] {
  const out: DagCase[] = [];
  const add = (name: string, expect: DagCase['expect'], probe: Write): void => {
    out.push({name, expect, bytes: probeFile(probe)});
  };
  for (const kind of kinds) {
    const d: Write = (w) => dag(w, kind);
    for (const [g, c] of Object.entries(GLOBAL_CASES)) {
      // The DAG as the only argument, in each position among legitimate ones, and as one more argument.
      add(`${g}(${kind})`, 'refuse', call(g, [d]));
      const args = c.args ?? [];
      for (let p = 0; p < args.length; p++) add(`${g} arg ${p} ${kind}`, c.inert?.includes(p) === true ? 'either' : 'refuse', call(g, args.map((a, i) => (i === p ? d : a))));
      if (c.args !== null) add(`${g} extra arg ${kind}`, 'refuse', call(g, [...args, d]));
    }
    // REDUCE whose argument tuple is itself the DAG.
    if (kind === 'tuple') add('numpy.dtype(*dag)', 'refuse', (w) => dag(w.global('numpy', 'dtype'), 'tuple').reduce());
    // BUILD: a NumPy array's state with the DAG in each place, and a DAG state on each kind of value.
    const npState = [(w: PickleWriter) => w.int(1), (w: PickleWriter) => w.ints([2]), dtype('f4'), (w: PickleWriter) => w.op(0x89), bytes(8)];
    for (let p = 0; p < npState.length; p++) {
      add(`BUILD ndarray state ${p} ${kind}`, 'refuse', (w) => {
        ndarray(w);
        w.mark();
        npState.forEach((s, i) => (i === p ? d(w) : s(w)));
        w.tuple().op(0x62);
      });
    }
    const targets: [string, Write, DagCase['expect']][] = [
      ['ndarray', ndarray, 'refuse'],
      ['dict', (w) => w.emptyDict(), kind === 'dict' ? 'either' : 'refuse'],
      ['OrderedDict', orderedDict, kind === 'dict' ? 'either' : 'refuse'],
      ['dtype', dtype('f8'), kind === 'tuple' ? 'either' : 'refuse'],
      ['list', (w) => w.op(0x5d), 'refuse'],
      ['tuple', (w) => w.op(0x29), 'refuse'],
      ['tensor', tensor, 'refuse'],
      ['None', (w) => w.none(), 'refuse'],
      ['device', call('torch.device', [(w) => w.str('cpu')]), 'refuse'],
      ['global', (w) => w.global('torch', 'FloatStorage'), 'refuse'],
    ];
    for (const [t, target, expect] of targets) {
      add(`BUILD ${t} with ${kind}`, expect, (w) => {
        target(w);
        dag(w, kind).op(0x62);
      });
    }
    // Persistent ids: the DAG as the id and in each field of ('storage', type, key, location, numel).
    const pid = [(w: PickleWriter) => w.str('storage'), (w: PickleWriter) => w.global('torch', 'FloatStorage'), (w: PickleWriter) => w.str('9'), (w: PickleWriter) => w.str('cpu'), (w: PickleWriter) => w.int(4)];
    add(`persistent id ${kind}`, 'refuse', (w) => dag(w, kind).op(0x51));
    for (let p = 0; p < pid.length; p++) {
      add(`persistent id field ${p} ${kind}`, 'refuse', (w) => {
        w.mark();
        pid.forEach((f, i) => (i === p ? d(w) : f(w)));
        w.tuple().op(0x51);
      });
    }
    // Keys: the DAG as a dict key, inside a tuple key, as set items; STACK_GLOBAL of it; APPEND and a plain value.
    add(`dict key ${kind}`, 'refuse', (w) => dag(w.emptyDict(), kind).int(0).op(0x73));
    add(`tuple key ${kind}`, 'refuse', (w) => dag(w.emptyDict().str('k'), kind).op(0x86).int(0).op(0x73));
    add(`set item ${kind}`, 'refuse', (w) => dag(w.op(0x8f).mark(), kind).op(0x90));
    add(`frozenset ${kind}`, 'refuse', (w) => dag(w.mark(), kind).op(0x91));
    add(`STACK_GLOBAL ${kind}`, 'refuse', (w) => dag(dag(w, kind, DAG_DEPTH, 6000), kind).op(0x93));
    add(`list item ${kind}`, 'either', (w) => dag(w.op(0x5d), kind).op(0x61));
    add(`value ${kind}`, 'either', d);
  }
  return out;
}

/**
 * A flat tuple key that names one long string many times: 8 MB decoded once, then 60 references, which joined into
 * one key would be 480 MB.
 */
export function sharedStringKey(): Uint8Array {
  return probeFile((w) => {
    w.emptyDict().str('x'.repeat(8 * 1024 * 1024)).put(7000).op(0x30).mark();
    for (let i = 0; i < 60; i++) w.get(7000);
    w.tuple().int(0).op(0x73);
  });
}

/** Legacy files whose header pickles (magic, protocol, system info, storage keys) are DAGs. */
export function legacyDags(): {name: string; bytes: Uint8Array}[] {
  const magic = (w: PickleWriter): PickleWriter => w.long(0x1950a86a20f9469cfc6cn);
  const p = (f: (w: PickleWriter) => void): Buffer => {
    const w = new PickleWriter();
    f(w);
    return w.stop();
  };
  const legit = [p(magic), p((w) => w.int(1001)), p((w) => w.emptyDict()), p((w) => w.emptyDict()), p((w) => w.op(0x5d))];
  return legit.map((_, i) => ({
    name: `legacy pickle ${i}`,
    bytes: Buffer.concat(legit.map((b, j) => (j === i ? p((w) => dag(w, 'list')) : b))),
  }));
}
