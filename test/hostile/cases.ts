import {Rng} from '../../src/core/rng';
import {encodeSafetensors} from '../../src/run/safetensors';
import {initialSchedule} from '../../src/cbp/schedule';
import {initialWeights} from '../../src/train/init';
import {getModel} from '../../models/index';
import {writeOnnx} from '../../onnx/writer';
import {ModelProto, type ModelMsg} from '../../onnx/schema';
import {PickleWriter, stateDictPickle, type TensorSpec} from './pickle';
import {pthZip} from './zip';
import {field} from './onnx-import';

/**
 * Files built to abuse the structure of each format rather than its bytes, from a small grammar: memo-shared
 * DAGs, deep nesting, mark/frame floods, tensors whose sizes, strides, offsets and dims lie, deflated entries that
 * promise too much, ONNX dims and data that disagree, schema-breaking run states. Seeded: case i of seed s is
 * always the same file.
 */
export type Kind = 'pth' | 'onnx' | 'safetensors' | 'state';

export interface HostileCase {
  readonly name: string;
  readonly kind: Kind;
  readonly bytes: Uint8Array;
}

const floats = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).fill(0.5).buffer);

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)];
}

function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1));
}

/** A number of the kind a lying header holds. */
function lie(rng: Rng): number {
  return pick(rng, [0, 1, 2, -1, -7, 2 ** 31 - 1, -(2 ** 31), 1e9, 65536, 3, 100_000]);
}

/** A list shared `width` ways at each of `depth` levels through the memo: a few bytes, width^depth as a tree. */
function dag(w: PickleWriter, depth: number, width: number, memoBase: number): void {
  w.mark().int(1).list().put(memoBase);
  for (let d = 1; d <= depth; d++) {
    w.mark();
    for (let i = 0; i < width; i++) w.get(memoBase + d - 1);
    w.list().put(memoBase + d);
  }
}

function pthCase(rng: Rng): {name: string; bytes: Uint8Array} {
  const numel = int(rng, 1, 64);
  const good: TensorSpec = {key: 'w', storage: '0', numel, offset: 0, size: [numel], stride: [1]};
  switch (int(rng, 0, 9)) {
    case 0: {
      // A DAG under an ordinary key, and the same DAG handed to constructors that copy or describe their arguments.
      const depth = int(rng, 3, 40);
      const width = int(rng, 2, 16);
      const use = pick(rng, ['value', 'device', 'size', 'encode', 'key', 'dtype', 'build']);
      const pkl = stateDictPickle([good], (w) => {
        w.str('progress');
        dag(w, depth, width, 100);
        if (use === 'device') w.global('torch', 'device').mark().get(100 + depth).tuple().reduce();
        if (use === 'size') w.global('torch', 'Size').mark().get(100 + depth).tuple().reduce();
        if (use === 'encode') w.global('_codecs', 'encode').mark().get(100 + depth).str('latin1').tuple().reduce();
        if (use === 'key') w.mark().mark().get(100 + depth).tuple().int(0).op(0x64); // DICT {(dag,): 0}
        if (use === 'dtype') w.global('numpy', 'dtype').mark().get(100 + depth).tuple().reduce();
        if (use === 'build') w.global('numpy', 'dtype').mark().str('f8').tuple().reduce().get(100 + depth).op(0x62); // BUILD
      });
      return {name: `dag-${use}-${depth}x${width}`, bytes: pthZip(pkl, {'0': floats(numel)})};
    }
    case 1: {
      // Nesting deeper than any stack: TUPLE1 around TUPLE1 …, a million levels in a megabyte.
      const depth = int(rng, 1000, 300_000);
      const w = new PickleWriter().emptyDict().str('deep').none();
      w.raw(Buffer.alloc(depth, 0x85));
      w.op(0x73); // SETITEM
      return {name: `deep-tuple-${depth}`, bytes: pthZip(w.stop(), {})};
    }
    case 2: {
      // Only marks and frames, and values pushed inside them.
      const w = new PickleWriter();
      const marks = int(rng, 10, 2000);
      const per = int(rng, 0, 500);
      for (let i = 0; i < marks; i++) {
        w.mark().raw(Buffer.from([0x95, 8, 0, 0, 0, 0, 0, 0, 0]));
        w.raw(Buffer.alloc(per, 0x4e));
      }
      return {name: `marks-${marks}x${per}`, bytes: pthZip(w.stop(), {})};
    }
    case 3: {
      // A tensor whose record lies: sizes, strides, offsets.
      const dims = int(rng, 0, 4);
      const t: TensorSpec = {
        key: 'w',
        storage: '0',
        numel: pick<number | bigint>(rng, [numel, lie(rng), 2n ** 40n, 2n ** 62n]),
        offset: pick(rng, [0, lie(rng)]),
        size: Array.from({length: dims}, () => pick(rng, [1, 2, numel, lie(rng)])),
        stride: Array.from({length: dims}, () => pick(rng, [1, 0, numel, lie(rng)])),
        dtype: pick(rng, ['FloatStorage', 'DoubleStorage', 'HalfStorage', 'LongStorage', 'ByteStorage']),
      };
      return {name: `lying-tensor-${JSON.stringify({n: String(t.numel), o: t.offset, s: t.size, st: t.stride})}`, bytes: pthZip(stateDictPickle([t]), {'0': floats(numel * 2)})};
    }
    case 4: {
      // Many strided views of one storage (each a transposed 2-D view).
      const side = int(rng, 8, 256);
      const views = int(rng, 2, 300);
      const tensors = Array.from({length: views}, (_, i) => ({key: `v${i}`, storage: '0', numel: side * side, offset: 0, size: [side, side], stride: [1, side]}));
      return {name: `views-${views}x${side}`, bytes: pthZip(stateDictPickle(tensors), {'0': floats(side * side)})};
    }
    case 5: {
      // 200,000 dimensions, or an empty tensor with a huge offset.
      const huge = rng.next() < 0.5;
      const t: TensorSpec = huge
        ? {key: 'w', storage: '0', numel, offset: 0, size: new Array<number>(int(rng, 65, 200_000)).fill(1), stride: new Array<number>(1).fill(1)}
        : {key: 'w', storage: '0', numel, offset: 2 ** 31 - 1, size: [0], stride: [1]};
      return {name: huge ? `dims-${t.size.length}` : 'empty-huge-offset', bytes: pthZip(stateDictPickle([t]), {'0': floats(numel)})};
    }
    case 6: {
      // A deflated storage whose directory promises far more than deflate can give, or just a lot.
      const claim = pick(rng, [2 ** 32 - 1, 2 ** 31, 1e9, numel * 4 + 1, numel * 4]);
      return {name: `deflate-claims-${claim}`, bytes: pthZip(stateDictPickle([good]), {'0': floats(numel)}, {deflate: true, claimSize: claim})};
    }
    case 7: {
      // A deflated bomb that tells the truth about its size: megabytes of zeros from a few KB.
      const n = int(rng, 1, 4) * 1024 * 1024;
      return {name: `deflate-bomb-${n}`, bytes: pthZip(stateDictPickle([{...good, numel: n / 4, size: [n / 4]}]), {'0': new Uint8Array(n)}, {deflate: true})};
    }
    case 8: {
      // A legacy header whose magic or protocol is a float, NaN or a string.
      const w = new PickleWriter();
      const v = pick(rng, [NaN, Infinity, 1.5e21, 0.5]);
      const magicLies = rng.next() < 0.5;
      if (magicLies) w.float(v);
      else w.long(0x1950a86a20f9469cfc6cn);
      const first = w.stop();
      const proto = magicLies ? new PickleWriter().int(1001).stop() : new PickleWriter().float(v).stop();
      return {name: `legacy-${magicLies ? 'magic' : 'protocol'}-${v}`, bytes: Buffer.concat([first, proto, new PickleWriter().emptyDict().stop()])};
    }
    default: {
      // Shared memo values merged by BUILD and SETITEMS over and over.
      const w = new PickleWriter().emptyDict().put(0);
      const n = int(rng, 100, 500);
      w.mark();
      for (let i = 0; i < n; i++) w.str(`k${i}`).int(i);
      w.setitems();
      const times = int(rng, 100, 5000);
      for (let i = 0; i < times; i++) w.emptyDict().get(0).op(0x62).op(0x30); // BUILD, POP
      return {name: `build-merge-${n}x${times}`, bytes: pthZip(w.stop(), {})};
    }
  }
}

let onnxBase: ModelMsg | undefined;

function onnxCase(rng: Rng): {name: string; bytes: Uint8Array} {
  if (onnxBase === undefined) {
    const spec = getModel('lenet5');
    const bytes = writeOnnx(spec, 'ter', initialWeights(spec, 'ter', 1), 'auto', {'cbp.constraint': 'ter'}).bytes;
    onnxBase = ModelProto.toObject(ModelProto.decode(bytes), {longs: Number, bytes: Uint8Array, defaults: true, arrays: true}) as ModelMsg;
  }
  const m = structuredClone(onnxBase);
  const t = pick(rng, m.graph.initializer);
  let name: string;
  switch (int(rng, 0, 5)) {
    case 0:
      t.dims = t.dims.map((d) => pick(rng, [d, -d, 2 ** 40, 2 ** 31, 2 ** 53 + 2, 0]));
      name = `dims-${t.name}-${t.dims.join('x')}`;
      break;
    case 1:
      t.raw_data = (t.raw_data ?? new Uint8Array(0)).subarray(0, int(rng, 0, Math.max(0, (t.raw_data?.length ?? 1) - 1)));
      name = `short-raw-${t.name}`;
      break;
    case 2:
    case 3: {
      // Another graph field (protobuf merges them) of n empty nodes or initializers, two bytes each.
      const n = int(rng, 1000, 300_000);
      const body = Buffer.alloc(2 * n);
      for (let i = 0; i < n; i++) body[2 * i] = rng.next() < 0.5 ? 0x0a : 0x2a;
      return {name: `empty-entries-${n}`, bytes: Buffer.concat([ModelProto.encode(ModelProto.fromObject(m)).finish(), field(7, body)])};
    }
    case 4:
      Object.assign(t, {external_data: [{key: 'location', value: pick(rng, ['weights.bin', '../../etc/passwd', '/dev/zero'])}], data_location: 1});
      name = `external-${t.name}`;
      break;
    default:
      t.dims = Array.from({length: int(rng, 65, 5000)}, () => 1);
      name = `many-dims-${t.dims.length}`;
  }
  return {name, bytes: ModelProto.encode(ModelProto.fromObject(m)).finish()};
}

function safetensorsCase(rng: Rng): {name: string; bytes: Uint8Array} {
  const n = int(rng, 1, 16);
  const good = encodeSafetensors(new Map([['w', {shape: [n], data: new Float32Array(n)}]]), {'cbp.state': '{}'});
  const headerLen = Number(new DataView(good.buffer).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(good.subarray(8, 8 + headerLen)).toString('utf8')) as Record<string, {shape?: unknown; data_offsets?: unknown; dtype?: unknown}>;
  const choice = int(rng, 0, 4);
  if (choice === 0) header.w.shape = Array.from({length: int(rng, 1, 200_000)}, () => pick(rng, [1, 0, 2 ** 31, -1]));
  else if (choice === 1) header.w.data_offsets = [pick(rng, [0, -4, 2 ** 53, 4]), pick(rng, [n * 4, 2 ** 62, -1, 0])];
  else if (choice === 2) header.w.shape = [2 ** 26, 2 ** 26];
  else if (choice === 3) header.__proto__ = {dtype: 'F32', shape: [1], data_offsets: [0, 4]};
  else header.w.dtype = pick(rng, ['F64', {toString: 1}, null]);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return {name: `safetensors-${choice}`, bytes: Buffer.concat([head, json, good.subarray(8 + headerLen)])};
}

function stateCase(rng: Rng): {name: string; bytes: Uint8Array} {
  const config: Record<string, unknown> = {model: 'lenet5', quant: 'ter', data: 'mnist', numClasses: 10, seed: 1, batchSize: 64, lr: 1e-3, lrLambda: 1e-4, weightDecay: 0, period: 5, limit: null, epochs: 2, init: null};
  const state: Record<string, unknown> = {format: 'cbp-checkpoint', version: 1, config, epoch: 1, schedule: initialSchedule(), progress: [], backend: 'cpu'};
  const field = pick(rng, ['model', 'quant', 'numClasses', 'batchSize', 'inputShape', 'lr', 'progress', 'epoch', 'data']);
  const value = pick<unknown>(rng, ['__proto__', 'constructor', 'toString', 0, -5, 1e17, NaN, 'x', {}, [], null, [3, 1e9, 1e9], 2 ** 60]);
  if (field === 'progress') state.progress = Array.from({length: int(rng, 1, 3000)}, (_, i) => ({epoch: i + 1, top1: value, top5: 0, cfs: 0, loss: 1e17, lagrangian: 0, ucs: 0, lambdaMean: 0, lambdaUpdated: false, lr: 1, seconds: 1}));
  else if (field === 'epoch') state.epoch = value;
  else config[field] = value;
  return {name: `state-${field}-${JSON.stringify(value)}`, bytes: Buffer.from(JSON.stringify(state), 'utf8')};
}

export function hostileCase(kind: Kind, rng: Rng): HostileCase {
  const c = kind === 'pth' ? pthCase(rng) : kind === 'onnx' ? onnxCase(rng) : kind === 'safetensors' ? safetensorsCase(rng) : stateCase(rng);
  return {...c, kind};
}
