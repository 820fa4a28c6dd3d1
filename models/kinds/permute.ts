import {MAX_AXES, MAX_WIDTH, type Attr, type KindDef, type NodeBase, type OnnxConst, type OnnxHeld, type OnnxNode, type OnnxValue, type Ops, type Pair} from './kind';

/**
 * The per-sample axes of a value in another order, the batch axis kept first (x.transpose(1, 2) of tokens,
 * k.transpose(-2, -1)), optionally after taking one index of one axis (x[:, 0], the class token; q, k, v = qkv[0],
 * qkv[1], qkv[2] after qkv.permute(2, 0, 3, 1, 4), which torch writes as a Transpose that moves the batch axis and
 * a Gather on axis 0 that brings it back first: one node here). The gradient is the upstream gradient permuted back,
 * with zeros at the other indices of a taken axis.
 */
export interface PermuteNode extends NodeBase {
  readonly kind: 'permute';
  readonly input: string;
  /** Output axis i is axis perm[i] of the input (after `take`), per sample (0 is the first axis after the batch). */
  readonly perm: readonly number[];
  /** [axis, index]: the per-sample axis of the input taken at one index (and dropped) before the permutation. */
  readonly take?: Pair;
}

const identity = (perm: readonly number[]): boolean => perm.every((p, i) => p === i);
const inverse = (perm: readonly number[]): number[] => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
};

/** The input's per-sample shape after `take`. */
const taken = (n: PermuteNode, x: readonly number[]): readonly number[] => (n.take === undefined ? x : x.filter((_, i) => i !== n.take?.[0]));

/**
 * The forward pass on a graph value `x` ([N, ...]) as ONNX nodes: a Gather of a scalar index (which drops the axis),
 * then a Transpose; `last` writes the last of them (the node's own output).
 */
function forward(o: Ops, n: PermuteNode, x: string, last: (type: string, inputs: readonly string[], attrs: Record<string, Attr>) => void): void {
  const moved = !identity(n.perm);
  let y = x;
  if (n.take !== undefined) {
    const index = o.i64Table(`scalar ${n.take[1]}`, [], BigInt64Array.of(BigInt(n.take[1])));
    const attrs = {axis: n.take[0] + 1};
    if (!moved) return last('Gather', [y, index], attrs);
    y = o.op('Gather', [y, index], attrs);
  }
  last('Transpose', [y], {perm: [0, ...n.perm.map((p) => p + 1)]});
}

/** A scalar index constant (an int of no dims), or undefined. */
const scalar = (c: OnnxConst | undefined): number | undefined => (c?.kind === 'int' && c.dims.length === 0 && typeof c.values[0] === 'number' ? c.values[0] : undefined);

/**
 * Maps the taking of index `index` of axis `at` (of the full value [N, ...]) from `x` seen through the Transpose
 * `perm` (full axes: the batch moved, held; the identity for a Gather on `x` itself): a Gather on that axis, or one
 * part of a Split there squeezed. The rest must have the batch first.
 */
function takeIndex(o: OnnxNode<PermuteNode>, perm: readonly number[], x: OnnxValue, at: number, index: number): string | undefined {
  const rank = perm.length;
  if (at < 0 || at >= rank || perm[at] === 0) return TAKE;
  const source = perm[at];
  const rest = perm.filter((_, i) => i !== at).map((p) => (p > source ? p - 1 : p));
  if (rest[0] !== 0) return TAKE;
  const size = x.shape[source - 1];
  if (index < -size || index >= size) o.fail(`takes index ${index} of an axis of ${size}`);
  const node: PermuteNode = {kind: 'permute', name: o.layerName(), input: x.name, perm: rest.slice(1).map((p) => p - 1), take: [source - 1, index < 0 ? index + size : index]};
  o.emit(node, [x.shape]);
  return undefined;
}

const MOVED = 'Transpose that moves the batch axis other than to take q, k and v (by Gather or Split), as nn.MultiheadAttention\'s export does (it then merges the batch with the heads)';
const TAKE = 'Gather, Split or Squeeze other than taking one index of a per-sample axis (after a Transpose that moves the batch axis, one that brings it back first)';

/** A held value's step: the Transpose's perm, and for one part of a Split after it the part's index (`2,0,3,1,4/1`). */
const heldPerm = (step: string): {perm: number[]; part?: number} => {
  const [perm, part] = step.split('/');
  return {perm: perm.split(',').map(Number), ...(part !== undefined ? {part: Number(part)} : {})};
};

/** Maps a node that reads a value this kind holds (after a Transpose that moves the batch axis). */
function fromHeld(o: OnnxNode<PermuteNode>, held: OnnxHeld): string | undefined {
  const {perm, part} = heldPerm(held.step);
  const rank = perm.length;
  const axisOf = (a: number): number => (a < 0 ? a + rank : a);
  if (o.op === 'Gather' && part === undefined && o.computed(1) === undefined) {
    const index = scalar(o.constant(1));
    return index === undefined ? TAKE : takeIndex(o, perm, held.value, axisOf(o.int('axis', 0)), index);
  }
  if (o.op === 'Split' && part === undefined) {
    // q, k, v = qkv (or qkv.unbind(0)): a Split on the moved axis into parts of one, each squeezed.
    const at = axisOf(o.int('axis', 0));
    const size = at >= 0 && at < rank && perm[at] !== 0 ? held.value.shape[perm[at] - 1] : 0;
    const given = o.given(1) ? o.constant(1) : undefined;
    const sizes = given?.kind === 'int' ? given.values : o.ints('split') ?? Array.from({length: o.outputs}, () => size / o.outputs);
    if (size === 0 || at !== 0 || o.outputs !== size || sizes.length !== size || sizes.some((v) => v !== 1)) return TAKE;
    for (let k = 0; k < o.outputs; k++) if (o.outputUsed(k)) o.holdOutput(k, `${perm.join(',')}/${k}`, held.value, 0);
    return undefined;
  }
  if (o.op === 'Squeeze' && part !== undefined) {
    const given = o.given(1) ? o.constant(1) : undefined;
    const axes = given?.kind === 'int' ? given.values : o.ints('axes');
    if (axes?.length !== 1 || typeof axes[0] !== 'number' || axisOf(axes[0]) !== 0) return TAKE;
    return takeIndex(o, perm, held.value, 0, part);
  }
  return TAKE;
}

export const permute: KindDef<PermuteNode> = {
  kind: 'permute',
  inputs: (n) => [n.input],
  shape: (n, [x]) => {
    const t = taken(n, x);
    return n.perm.map((p) => t[p]);
  },
  check: (n, [x]) => {
    if (n.take !== undefined && (n.take[0] >= x.length || n.take[1] >= x[n.take[0]])) return `takes index ${n.take[1]} of axis ${n.take[0]} of a value of shape [${x.join(', ')}]`;
    const rank = taken(n, x).length;
    const seen = new Set(n.perm);
    return n.perm.length === rank && seen.size === rank && n.perm.every((p) => p >= 0 && p < rank) ? undefined : `permutes [${n.perm.join(', ')}] the ${rank} axes of a value of shape [${x.join(', ')}]${n.take ? ' (one taken)' : ''}`;
  },
  read: (r) => ({
    kind: 'permute',
    name: r.name,
    input: r.value('input'),
    perm: r.ints('perm', 0, MAX_AXES - 1, [1, MAX_AXES]),
    ...(r.has('take') ? {take: r.pair('take', 0, MAX_WIDTH * 4096)} : {}),
  }),
  params: () => [],
  onnx(n, g) {
    forward(g.ops, n, g.value(n.input), (type, inputs, attrs) => g.emit(n, type, inputs, attrs));
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    forward(o, n, x, (type, inputs, attrs) => void o.op(type, inputs, attrs, n.name));
    const shape = g.shape(n.input);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      let gx = identity(n.perm) ? gy : o.op('Transpose', [gy], {perm: [0, ...inverse(n.perm).map((p) => p + 1)]});
      if (n.take !== undefined) {
        // The taken index back in its axis as a band of one, zeros at the others (q, k and v's join into one Concat).
        const [axis, index] = n.take;
        g.accumulateBand(x, o.op('Unsqueeze', [gx, o.i64([axis + 1])]), {axis: axis + 1, start: index, size: 1, length: shape[axis], rank: shape.length + 1});
        return;
      }
      g.accumulate(x, gx);
    });
  },
  fromOnnx: {
    // Transpose after shuffle (a channel shuffle's); Gather of a computed value (a constant's is folded); Squeeze
    // of one part of a Split (the slice kind's otherwise) after a Transpose that moves the batch axis.
    ops: ['Transpose', 'Gather', 'Squeeze'],
    map(o) {
      if (o.holding) {
        const held = o.held(0);
        return held === undefined ? TAKE : fromHeld(o, held);
      }
      if (o.op === 'Squeeze') return 'Squeeze other than of one part of a Split that takes q, k and v';
      const x = o.input();
      const rank = x.shape.length + 1;
      if (o.op === 'Gather') {
        const index = scalar(o.constant(1));
        const axis = o.int('axis', 0);
        const at = axis < 0 ? axis + rank : axis;
        if (index === undefined || at < 1 || at >= rank || o.computed(1) !== undefined) return 'Gather other than one index of a per-sample axis';
        return takeIndex(o, Array.from({length: rank}, (_, i) => i), x, at, index);
      }
      const perm = o.ints('perm') ?? Array.from({length: rank}, (_, i) => rank - 1 - i);
      if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => p < 0 || p >= rank)) o.fail(`has perm [${perm.join(', ')}] for a value of ${rank} axes`);
      if (perm[0] !== 0) {
        // The batch axis moves: only a Gather or Split that brings it back (q, k, v = qkv[0], qkv[1], qkv[2]) may
        // read it. nn.MultiheadAttention's export moves it ([T, N, C]) and then merges it with the heads.
        if (o.readers().some((r) => r.op !== 'Gather' && r.op !== 'Split')) return MOVED;
        o.hold(perm.join(','), x, 0);
        return undefined;
      }
      const node: PermuteNode = {kind: 'permute', name: o.layerName(), input: x.name, perm: perm.slice(1).map((p) => p - 1)};
      if (identity(node.perm)) o.pass(x);
      else o.emit(node, [x.shape]);
      return undefined;
    },
  },
};
