import {CbpError} from '../../src/core/errors';
import {listed, quoted, shown} from '../../src/core/shown';
import {attributeOf, type NodeMsg} from '../schema';
import {BATCH, MAX_INT_ELEMENTS, constantOf, type Const, type Elem} from './constants';

/**
 * Shape arithmetic folded at import: what torch.onnx.export writes around `x.view(x.size(0), -1)` and the like
 * (Shape, Gather, Unsqueeze, Concat, Cast, Div, Sub, ConstantOfShape, Floor, and Add, Mul, Reshape, Slice, Transpose of
 * constants, Constant: nn.ZeroPad2d's pads are computed by such a chain; F.interpolate's output size with
 * recompute_scale_factor by Shape, Gather, Cast, Mul, Floor, Unsqueeze, Concat of floats and Cast to int64; Equal and
 * Where: the shape of `cls.expand(N, -1, -1)`; Pow: an attention's `d ** -0.5`; Mod of integers: torchvision Swin's padding
 * to a window multiple, `(w - W % w) % w`). Each op here computes a constant
 * from constants, or returns undefined when it cannot (the importer then reports the node as unsupported). The
 * spec keeps only what trains.
 */
export const FOLD_OPS = ['Constant', 'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Cast', 'Div', 'Sub', 'ConstantOfShape', 'Floor', 'Equal', 'Where', 'Pow', 'Mod'] as const;

export interface FoldInput {
  /** The constant, or for Shape's input the static shape of a computed value ([N, ...per sample]). */
  readonly value?: Const;
  readonly shape?: readonly Elem[];
}


const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function ints(values: readonly Elem[], dims: readonly number[]): Const | undefined {
  return values.length > MAX_INT_ELEMENTS ? undefined : {kind: 'int', dims, values};
}

/** The folded value of `node` (one output), or undefined when its inputs are not what shape arithmetic uses. */
export function fold(node: NodeMsg, inputs: readonly (FoldInput | undefined)[], opset: number, file: string): Const | undefined {
  const fail = (why: string): never => {
    throw new CbpError(`${file}: node ${quoted(node.name)} (${shown(node.op_type)}) ${why}`, 'BAD_ONNX');
  };
  const c = (i: number): Const | undefined => inputs[i]?.value;
  switch (node.op_type) {
    case 'Constant':
      return constantOf(node.attribute, node.name, file);
    case 'Shape': {
      const s = inputs[0]?.shape ?? (c(0) ? c(0)?.dims : undefined);
      if (s === undefined) return undefined;
      const rank = s.length;
      const clamp = (v: number): number => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
      const start = clamp(attributeOf(node, 'start')?.i ?? 0);
      const end = clamp(attributeOf(node, 'end')?.i ?? rank);
      const values = s.slice(start, Math.max(start, end));
      return ints(values, [values.length]);
    }
    case 'Gather': {
      const data = c(0);
      const idx = c(1);
      if (data?.kind !== 'int' || idx?.kind !== 'int' || data.dims.length !== 1 || idx.dims.length > 1) return undefined;
      const axis = attributeOf(node, 'axis')?.i ?? 0;
      if (axis !== 0 && axis !== -1) return undefined;
      const n = data.values.length;
      const values = idx.values.map((i) => {
        if (typeof i !== 'number' || i < -n || i >= n) return fail(`gathers index ${String(i)} from ${n} values`);
        return data.values[i < 0 ? i + n : i];
      });
      return ints(values, idx.dims);
    }
    case 'Unsqueeze': {
      const data = c(0);
      const axesValue = opset >= 13 ? c(1) : undefined;
      const axes = opset >= 13 ? (axesValue?.kind === 'int' ? axesValue.values : undefined) : attributeOf(node, 'axes')?.ints;
      if (data === undefined || axes === undefined || axes.length > 64) return undefined;
      const rank = data.dims.length + axes.length;
      const at = new Set(axes.map((a) => (typeof a === 'number' && a < 0 ? a + rank : a)));
      const dims: number[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) dims.push(at.has(i) ? 1 : data.dims[k++] ?? fail(`has axes [${axes.join(', ')}] that do not fit its input`));
      return data.kind === 'int' ? ints(data.values, dims) : {kind: 'float', dims, values: data.values};
    }
    case 'Concat': {
      const parts = inputs.map((x) => x?.value);
      if (parts.length > 0 && parts.length <= 64 && parts.every((p) => p?.kind === 'float' && p.dims.length === 1)) {
        const floats: number[] = [];
        for (const p of parts) if (p?.kind === 'float') floats.push(...p.values);
        return floats.length > MAX_INT_ELEMENTS ? undefined : {kind: 'float', dims: [floats.length], values: Float32Array.from(floats)};
      }
      if (parts.length === 0 || parts.some((p) => p?.kind !== 'int' || p.dims.length !== 1)) return undefined;
      const values: Elem[] = [];
      for (const p of parts) if (p?.kind === 'int') values.push(...p.values);
      return ints(values, [values.length]);
    }
    case 'Cast': {
      const data = c(0);
      const to = attributeOf(node, 'to')?.i ?? 0;
      if (data === undefined) return undefined;
      const toInt = to === 6 || to === 7 || to === 9;
      const toFloat = to === 1 || to === 11;
      if (data.kind === 'int' && toInt) return data;
      if (data.kind === 'float' && toFloat) return data;
      if (data.kind === 'int' && toFloat) {
        if (data.values.some((v) => v === BATCH)) return undefined;
        return {kind: 'float', dims: data.dims, values: Float32Array.from(data.values, Number)};
      }
      if (data.kind === 'float' && toInt && data.values.length <= MAX_INT_ELEMENTS) return ints(Array.from(data.values, (v) => Math.trunc(v)), data.dims);
      return undefined;
    }
    case 'Div':
    case 'Mul':
    case 'Add':
    case 'Sub': {
      // Add and Mul also map onto layers (add, mul); the importer folds them here when every input is a constant
      // (torch.chunk's channel bounds: (C + 1) / 2 · k).
      const a = c(0);
      const b = c(1);
      if (a === undefined || b === undefined || a.kind !== b.kind) return undefined;
      const n = Math.max(size(a.dims), size(b.dims));
      // Broadcasting: the larger operand's dims (of equal sizes, the higher rank: [] against [1] gives [1]).
      const dims = size(a.dims) > size(b.dims) || (size(a.dims) === size(b.dims) && a.dims.length >= b.dims.length) ? a.dims : b.dims;
      if (!(size(a.dims) === size(b.dims) && a.dims.join() === b.dims.join()) && size(a.dims) !== 1 && size(b.dims) !== 1) return undefined;
      const at = (x: Const, i: number): Elem => (size(x.dims) === 1 ? x.values[0] : x.values[i]);
      const apply = (x: number, y: number): number => (node.op_type === 'Div' ? x / y : node.op_type === 'Mul' ? x * y : node.op_type === 'Add' ? x + y : x - y);
      if (a.kind === 'float') {
        return {kind: 'float', dims, values: Float32Array.from({length: n}, (_, i) => Math.fround(apply(Number(at(a, i)), Number(at(b, i)))))};
      }
      const values: number[] = [];
      for (let i = 0; i < n; i++) {
        const x = at(a, i);
        const y = at(b, i);
        if (typeof x !== 'number' || typeof y !== 'number') return undefined;
        if (node.op_type === 'Div' && y === 0) fail('divides by zero');
        const v = node.op_type === 'Div' ? Math.trunc(x / y) : apply(x, y);
        if (!Number.isSafeInteger(v)) return undefined;
        values.push(v);
      }
      return ints(values, dims);
    }
    case 'Mod': {
      // Integers only: fmod 0 takes the divisor's sign (Python's %), fmod 1 the dividend's (C's).
      const a = c(0);
      const b = c(1);
      if (a?.kind !== 'int' || b?.kind !== 'int') return undefined;
      if (!(a.dims.join() === b.dims.join()) && size(a.dims) !== 1 && size(b.dims) !== 1) return undefined;
      const n = Math.max(size(a.dims), size(b.dims));
      const dims = size(a.dims) > size(b.dims) || (size(a.dims) === size(b.dims) && a.dims.length >= b.dims.length) ? a.dims : b.dims;
      const at = (x: Const & {kind: 'int'}, i: number): Elem => (size(x.dims) === 1 ? x.values[0] : x.values[i]);
      const cMod = (attributeOf(node, 'fmod')?.i ?? 0) !== 0;
      const values: number[] = [];
      for (let i = 0; i < n; i++) {
        const [x, y] = [at(a, i), at(b, i)];
        if (typeof x !== 'number' || typeof y !== 'number') return undefined;
        if (y === 0) fail('takes a remainder by zero');
        const r = x % y;
        values.push(r === 0 ? 0 : cMod || (r < 0) === (y < 0) ? r : r + y);
      }
      return ints(values, dims);
    }
    case 'Floor': {
      const data = c(0);
      return data?.kind === 'float' ? {kind: 'float', dims: data.dims, values: data.values.map(Math.floor)} : undefined;
    }
    case 'Equal': {
      // Integers only; the symbolic batch size equals itself and no number below 1 (it is at least 1).
      const a = c(0);
      const b = c(1);
      if (a?.kind !== 'int' || b?.kind !== 'int') return undefined;
      const n = Math.max(size(a.dims), size(b.dims));
      if (!(a.dims.join() === b.dims.join()) && size(a.dims) !== 1 && size(b.dims) !== 1) return undefined;
      const dims = size(a.dims) >= size(b.dims) ? a.dims : b.dims;
      const at = (x: Const & {kind: 'int'}, i: number): Elem => (size(x.dims) === 1 ? x.values[0] : x.values[i]);
      const values: number[] = [];
      for (let i = 0; i < n; i++) {
        const [x, y] = [at(a, i), at(b, i)];
        if (x === BATCH && y === BATCH) values.push(1);
        else if (x === BATCH || y === BATCH) {
          const other = x === BATCH ? y : x;
          if (typeof other !== 'number' || other >= 1) return undefined;
          values.push(0);
        } else values.push(x === y ? 1 : 0);
      }
      return ints(values, dims);
    }
    case 'Where': {
      const [cond, a, b] = [c(0), c(1), c(2)];
      if (cond?.kind !== 'int' || a === undefined || b === undefined || a.kind !== b.kind) return undefined;
      const n = size(cond.dims);
      if ([a, b].some((x) => size(x.dims) !== 1 && x.dims.join() !== cond.dims.join())) return undefined;
      const pick = (i: number): Elem => {
        const from = cond.values[i] !== 0 ? a : b;
        return from.values[size(from.dims) === 1 ? 0 : i];
      };
      if (a.kind === 'float') return {kind: 'float', dims: cond.dims, values: Float32Array.from({length: n}, (_, i) => Number(pick(i)))};
      return ints(Array.from({length: n}, (_, i) => pick(i)), cond.dims);
    }
    case 'Pow': {
      // Float scalars (ONNX Runtime's powf of float32 operands).
      const a = c(0);
      const b = c(1);
      if (a?.kind !== 'float' || b?.kind !== 'float' || size(a.dims) !== 1 || size(b.dims) !== 1) return undefined;
      return {kind: 'float', dims: a.dims.length >= b.dims.length ? a.dims : b.dims, values: Float32Array.of(Math.fround(Math.pow(a.values[0], b.values[0])))};
    }
    case 'ConstantOfShape': {
      const shape = c(0);
      if (shape?.kind !== 'int' || shape.dims.length !== 1 || shape.values.some((v) => typeof v !== 'number' || v < 0)) return undefined;
      const dims = shape.values.map(Number);
      if (size(dims) > MAX_INT_ELEMENTS) return undefined;
      const filler = attributeOf(node, 'value')?.t ? constantOf(node.attribute, node.name, file) : undefined;
      if (filler !== undefined && size(filler.dims) !== 1) return fail('has a value that is not one element');
      if (filler?.kind === 'float') return {kind: 'float', dims, values: new Float32Array(size(dims)).fill(filler.values[0])};
      return ints(new Array<Elem>(size(dims)).fill(filler?.kind === 'int' ? filler.values[0] : 0), dims);
    }
    case 'Slice': {
      // One axis of a constant (opset 10+: starts, ends, axes, steps as inputs), negative steps included.
      const data = c(0);
      const [starts, ends, axes, steps] = [c(1), c(2), c(3), c(4)];
      if (data === undefined || starts?.kind !== 'int' || ends?.kind !== 'int' || starts.values.length !== 1 || ends.values.length !== 1) return undefined;
      const axis = axes === undefined ? 0 : axes.kind === 'int' && axes.values.length === 1 ? Number(axes.values[0]) : NaN;
      const step = steps === undefined ? 1 : steps.kind === 'int' && steps.values.length === 1 ? Number(steps.values[0]) : NaN;
      const rank = data.dims.length;
      const ax = axis < 0 ? axis + rank : axis;
      if (!(ax >= 0 && ax < rank) || !Number.isInteger(step) || step === 0) return undefined;
      const n = data.dims[ax];
      const bound = (v: number, forward: boolean): number => {
        const at = v < 0 ? v + n : v;
        return forward ? Math.min(n, Math.max(0, at)) : Math.min(n - 1, Math.max(-1, at));
      };
      const start = bound(Number(starts.values[0]), step > 0);
      const end = bound(Number(ends.values[0]), step > 0);
      const picked: number[] = [];
      for (let i = start; step > 0 ? i < end : i > end; i += step) picked.push(i);
      const outer = size(data.dims.slice(0, ax));
      const inner = size(data.dims.slice(ax + 1));
      const idx: number[] = [];
      for (let o = 0; o < outer; o++) for (const p of picked) for (let k = 0; k < inner; k++) idx.push((o * n + p) * inner + k);
      const dims = data.dims.map((d, i) => (i === ax ? picked.length : d));
      return data.kind === 'int' ? ints(idx.map((i) => data.values[i]), dims) : {kind: 'float', dims, values: Float32Array.from(idx, (i) => data.values[i])};
    }
    case 'Transpose': {
      // A 2-d constant only (the pads chain).
      const data = c(0);
      const perm = attributeOf(node, 'perm')?.ints ?? [1, 0];
      if (data === undefined || data.dims.length !== 2 || perm.join() !== '1,0') return undefined;
      const [r, k] = data.dims;
      const idx = Array.from({length: r * k}, (_, i) => (i % r) * k + Math.floor(i / r));
      return data.kind === 'int' ? ints(idx.map((i) => data.values[i]), [k, r]) : {kind: 'float', dims: [k, r], values: Float32Array.from(idx, (i) => data.values[i])};
    }
    default:
      return undefined;
  }
}

/** Reshape of a constant: the new dims (0 copies, −1 infers), checked against the element count. */
export function reshapeConst(data: Const, shape: Const, allowZero: boolean, node: string, file: string): Const | undefined {
  if (shape.kind !== 'int' || shape.values.some((v) => typeof v !== 'number') || shape.values.length > 64) return undefined;
  const n = size(data.dims);
  const dims = shape.values.map((v, i) => (v === 0 && !allowZero ? data.dims[i] ?? 0 : Number(v)));
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const infer = dims.filter((d) => d === -1).length;
  if (infer > 1 || dims.some((d) => d < -1) || (infer === 1 ? known === 0 || n % known !== 0 : known !== n)) {
    throw new CbpError(`${file}: node ${quoted(node)} (Reshape) cannot reshape [${data.dims.join(', ')}] to [${listed(shape.values, 8)}]`, 'BAD_ONNX');
  }
  const out = dims.map((d) => (d === -1 ? n / known : d));
  return data.kind === 'int' ? {kind: 'int', dims: out, values: data.values} : {kind: 'float', dims: out, values: data.values};
}
