import {DataType, attributeOf, type AttributeMsg, type GraphMsg, type NodeMsg, type TensorMsg} from '../schema';
import {readConst, type Const} from './constants';

/**
 * torch's nn.MultiheadAttention as torch.onnx.export (PyTorch 1.13, F.multi_head_attention_forward) writes it for
 * self-attention (query = key = value, batch_first=True, no masks, eval mode), recognised as a whole and rewritten,
 * before the walk, into the batch-first graph a vision transformer's attention is written as (timm's), which the
 * token kinds map and train:
 *
 *   torch:  Transpose(x, [1,0,2]) → MatMul(·, in_proj_weightᵀ) (+ in_proj_bias) → three Slices (q, k, v) on the last
 *           axis → each Reshape to [T, N·heads, d] and Transpose ([1,0,2]; k's [1,2,0]) → q / √d · kᵀ → Softmax →
 *           · v → Transpose → Reshape to [T·N, C] → Gemm by out_proj (or MatMul without bias) → Reshape to
 *           [T, N, C] → Transpose back.
 *   cbp:    MatMul(x, in_proj_weightᵀ) (+ bias: a dense layer, `<module>.in_proj`) → Reshape to [N, T, 3, heads, d] →
 *           Transpose [2,0,3,1,4] → Gather 0, 1, 2 (q, k, v) → q / √d → MatMul by kᵀ → Softmax → MatMul by v →
 *           Transpose [0,2,1,3] → Reshape to [N, T, C] → MatMul by out_projᵀ (+ bias: a dense layer,
 *           `<module>.out_proj`).
 *
 * The two compute the same products and sums in the same order per element. torch's graph merges the batch with the
 * heads ([T, N·heads, d]), which a spec of per-sample shapes cannot express node by node; the rewritten one keeps
 * the batch first. Heads come from the scale: torch divides q by √d (d = C / heads), checked against the
 * Reshape's folded head size where the file holds it as a constant. What is not this whole pattern (a mask, the
 * attention weights read, cross-attention, separate q/k/v projections) is left as it is, and the walk refuses its
 * Transpose naming nn.MultiheadAttention: `refusals` says why, by the Transpose's output, once the in-projection
 * (a MatMul by a [C, 3C] parameter) shows it is torch's attention.
 */

// Worded without 'attention', so that the refusal still groups them under the module's look ('attention in …').
const OTHER = 'nn.MultiheadAttention other than as cbp maps it (query = key = value, no mask, eval mode, torch 1.13\'s export)';
const MASK = 'nn.MultiheadAttention with a mask (attn_mask or key_padding_mask): cbp maps it without';
const WEIGHTS = 'nn.MultiheadAttention whose weights are read (need_weights=True): cbp maps it with need_weights=False or the weights unused';
const SCALE = 'nn.MultiheadAttention whose scores are not scaled by 1/√(head size)';
export function rewriteAttention(g: GraphMsg, file: string): {readonly graph: GraphMsg; readonly refusals: ReadonlyMap<string, string>} {
  const producer = new Map<string, NodeMsg>();
  const readers = new Map<string, NodeMsg[]>();
  // Readers among the nodes the output needs only (torch leaves dead nodes in, e.g. a Transpose of k beside the one used).
  const needed = new Set([...neededNodes(g, g.output[0]?.name ?? '')].map((i) => g.node[i]));
  for (const n of g.node) {
    for (const o of n.output) producer.set(o, n);
    if (!needed.has(n)) continue;
    for (const v of new Set(n.input)) {
      if (v === '') continue;
      const list = readers.get(v) ?? [];
      list.push(n);
      readers.set(v, list);
    }
  }
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const graphOutputs = new Set(g.output.map((o) => o.name));
  /**
   * The nodes that read `v`, less the Shape nodes (torch's shape arithmetic, dead once the pattern is rewritten) and
   * the nodes only Shape nodes read (with need_weights=True torch transposes k once more for its shape).
   */
  const readBy = (v: string, depth = 0): NodeMsg[] =>
    graphOutputs.has(v) ? [] : (readers.get(v) ?? []).filter((n) => n.op_type !== 'Shape' && !(depth < 4 && n.output.every((o) => readBy(o, depth + 1).length === 0 && !graphOutputs.has(o))));
  /** The one node that reads `v` (not counting Shape), of op `op`, or undefined. */
  const only = (v: string | undefined, op: string): NodeMsg | undefined => {
    if (v === undefined || graphOutputs.has(v)) return undefined;
    const r = readBy(v);
    return r.length === 1 && r[0].op_type === op && r[0].input[0] === v ? r[0] : undefined;
  };
  const permOf = (n: NodeMsg | undefined): string | undefined => (n === undefined ? undefined : (attributeOf(n, 'perm')?.ints ?? []).map(Number).join(','));
  const intAttr = (n: NodeMsg, name: string, def: number): number => Number(attributeOf(n, name)?.i ?? def);
  const floatAttr = (n: NodeMsg, name: string, def: number): number => attributeOf(n, name)?.f ?? def;
  const {source, constant} = valueReader(producer, inits, file);
  /**
   * The initializer `v` is, directly or through Identity nodes, or through a Transpose of a matrix (torch writes a
   * Linear's weight so on tokens when it does not fold constants); undefined for any other value.
   */
  const initOf = (w: string | undefined): string | undefined => {
    if (w === undefined) return undefined;
    const v = source(w);
    const t = producer.get(v);
    const from = t?.op_type === 'Transpose' && permOf(t) === '1,0' ? source(t.input[0]) : undefined;
    return inits.has(v) ? v : from !== undefined && inits.has(from) ? from : undefined;
  };
  const isInit = (v: string | undefined): boolean => initOf(v) !== undefined;
  const floats = (v: string | undefined): Const & {kind: 'float'} | undefined => {
    const c = constant(v);
    return c?.kind === 'float' ? c : undefined;
  };

  const refusals = new Map<string, string>();
  const removed = new Set<NodeMsg>();
  const added: NodeMsg[] = [];
  const newInits: TensorMsg[] = [];
  const replacedInits = new Map<string, TensorMsg>();
  let count = 0;

  for (const t0 of g.node) {
    // [N, T, C] to [T, N, C]; torch folds a transpose before it into the same node ([N, C, T] by [2, 0, 1]).
    const p0 = (attributeOf(t0, 'perm')?.ints ?? []).map(Number);
    if (t0.op_type !== 'Transpose' || p0.length !== 3 || p0[1] !== 0 || removed.has(t0)) continue;
    const before = [0, p0[0], p0[2]];
    // The in-projection: MatMul by in_proj_weightᵀ [C, 3C], optionally + in_proj_bias [3C].
    const mIn = only(t0.output[0], 'MatMul');
    const wIn = floats(mIn?.input[1]);
    if (mIn === undefined || wIn === undefined || wIn.dims.length !== 2 || wIn.dims[1] !== 3 * wIn.dims[0] || !isInit(mIn.input[1])) continue;
    const C = wIn.dims[0];
    // From here on it is torch's attention: what does not match is refused, naming it.
    const miss = (why: string): void => {
      refusals.set(t0.output[0], why);
    };
    let qkv = mIn.output[0];
    const aIn = readBy(qkv).length === 1 && readBy(qkv)[0].op_type === 'Add' ? readBy(qkv)[0] : undefined;
    const bInName = aIn?.input.find((v) => v !== qkv);
    const bIn = floats(bInName);
    if (aIn !== undefined) {
      if (bIn === undefined || bIn.values.length !== 3 * C || !isInit(bInName)) {
        miss(OTHER);
        continue;
      }
      qkv = aIn.output[0];
    }
    // q, k, v: three Slices of the last axis, each the next chunk of C.
    const slices = readBy(qkv);
    if (slices.length !== 3 || slices.some((s) => s.op_type !== 'Slice' || s.input[0] !== qkv || s.input.length < 4)) {
      miss(OTHER);
      continue;
    }
    const axis = constant(slices[0].input[3]);
    if (slices.some((s) => s.input[3] !== slices[0].input[3]) || axis?.kind !== 'int' || axis.values.length !== 1 || (axis.values[0] !== -1 && axis.values[0] !== 2)) {
      miss(OTHER);
      continue;
    }
    const startsAt = (s: NodeMsg): number | undefined => {
      const c = constant(s.input[1]);
      return c?.kind === 'int' && c.values.length === 1 && typeof c.values[0] === 'number' ? c.values[0] : undefined;
    };
    const first = slices.find((s) => startsAt(s) === 0);
    const second = slices.find((s) => first !== undefined && s.input[1] === first.input[2]);
    const third = slices.find((s) => second !== undefined && s.input[1] === second.input[2]);
    if (first === undefined || second === undefined || third === undefined || new Set([first, second, third]).size !== 3) {
      miss(OTHER);
      continue;
    }
    // Torch's bounds: (3C + 2) / 3 · k, k = 1, 2, 3 (Mul by a constant); where the file folded them, C · k.
    const bound = (v: string, k: number): boolean => {
      const folded = constant(v);
      if (folded !== undefined) return folded.kind === 'int' && folded.values.length === 1 && folded.values[0] === C * k;
      const mul = producer.get(v);
      const by = mul?.op_type === 'Mul' ? constant(mul.input[1]) : undefined;
      return by?.kind === 'int' && by.values.length === 1 && by.values[0] === k;
    };
    if (!bound(first.input[2], 1) || !bound(second.input[2], 2) || !bound(third.input[2], 3)) {
      miss(OTHER);
      continue;
    }
    // Each Reshape to [T, N·heads, d] and Transpose: q's and v's [1,0,2], k's [1,2,0].
    const heads = [first, second, third].map((s) => only(s.output[0], 'Reshape'));
    const moved = heads.map((r) => only(r?.output[0], 'Transpose'));
    const [tq, tk, tv] = moved;
    if (heads.some((r) => r === undefined) || tq === undefined || tk === undefined || tv === undefined) {
      miss(OTHER);
      continue;
    }
    if (permOf(tq) !== '1,0,2' || permOf(tk) !== '1,2,0' || permOf(tv) !== '1,0,2') {
      miss(OTHER);
      continue;
    }
    // q / √d, the scores, softmax on the last axis, times v.
    const div = only(tq.output[0], 'Div');
    const scale = floats(div?.input[1]);
    if (div === undefined || scale === undefined || scale.values.length !== 1) {
      miss(SCALE);
      continue;
    }
    const d = Math.round(scale.values[0] ** 2);
    if (d < 1 || C % d !== 0 || Math.abs(Math.fround(Math.sqrt(d)) - scale.values[0]) > 1e-6 * scale.values[0]) {
      miss(SCALE);
      continue;
    }
    const folded = constant(heads[0]?.input[1]);
    if (folded !== undefined && (folded.kind !== 'int' || folded.values.length !== 3 || folded.values[2] !== d)) {
      miss(OTHER);
      continue;
    }
    const scores = only(div.output[0], 'MatMul');
    if (scores === undefined || scores.input[1] !== tk.output[0] || readBy(tk.output[0]).length !== 1) {
      miss(MASK);
      continue;
    }
    const softmax = only(scores.output[0], 'Softmax');
    if (softmax === undefined || (intAttr(softmax, 'axis', -1) !== -1 && intAttr(softmax, 'axis', -1) !== 2)) {
      miss(softmax === undefined ? MASK : OTHER);
      continue;
    }
    const mix = only(softmax.output[0], 'MatMul');
    if (mix === undefined || mix.input[1] !== tv.output[0] || readBy(tv.output[0]).length !== 1) {
      miss(WEIGHTS);
      continue;
    }
    // Back to [T, N, C], merged to [T·N, C] for the out-projection (Gemm with bias, MatMul without), and back.
    const back = only(mix.output[0], 'Transpose');
    const merged = only(back?.output[0], 'Reshape');
    if (permOf(back) !== '1,0,2' || merged === undefined || back === undefined) {
      miss(OTHER);
      continue;
    }
    const mOut = readBy(merged.output[0]).length === 1 && merged.output[0] === readBy(merged.output[0])[0].input[0] ? readBy(merged.output[0])[0] : undefined;
    if (mOut === undefined || (mOut.op_type !== 'Gemm' && mOut.op_type !== 'MatMul')) {
      miss(OTHER);
      continue;
    }
    const wOutName = mOut.input[1];
    const wOut = floats(wOutName);
    if (wOut === undefined || !isInit(wOutName) || wOut.dims.length !== 2 || wOut.dims[0] !== C || wOut.dims[1] !== C) {
      miss(OTHER);
      continue;
    }
    const gemm = mOut.op_type === 'Gemm';
    if (gemm && (intAttr(mOut, 'transA', 0) !== 0 || intAttr(mOut, 'transB', 0) !== 1 || floatAttr(mOut, 'alpha', 1) !== 1 || floatAttr(mOut, 'beta', 1) !== 1)) {
      miss(OTHER);
      continue;
    }
    const bOutName = gemm && mOut.input[2] !== undefined && mOut.input[2] !== '' ? mOut.input[2] : undefined;
    if (bOutName !== undefined && (floats(bOutName)?.values.length !== C || !isInit(bOutName))) {
      miss(OTHER);
      continue;
    }
    const unmerged = only(mOut.output[0], 'Reshape');
    const last = only(unmerged?.output[0], 'Transpose');
    if (unmerged === undefined || last === undefined || permOf(last) !== '1,0,2') {
      miss(OTHER);
      continue;
    }

    // The whole pattern is there: the rewritten graph, named under the module's path (`/a/b/Transpose` → `/a/b/in_proj/MatMul`).
    const at = t0.name.startsWith('/') ? t0.name.slice(0, t0.name.lastIndexOf('/')) : `/${(t0.name || t0.output[0]).replace(/[/.]/g, '_')}`;
    const v = (s: string): string => `${t0.output[0]}::mha${count}/${s}`;
    const ints = (name: string, values: number[]): string => {
      newInits.push({name, dims: [values.length], data_type: DataType.INT64, int64_data: values});
      return name;
    };
    const scalarIndex = (k: number): string => {
      const name = v(`index${k}`);
      newInits.push({name, dims: [], data_type: DataType.INT64, int64_data: [k]});
      return name;
    };
    const node = (name: string, op: string, input: string[], output: string, attribute: AttributeMsg[] = []): string => {
      added.push({name: `${at}/${name}`, op_type: op, input, output: [output], attribute});
      return output;
    };
    const perm = (values: number[]): AttributeMsg[] => [{name: 'perm', type: 7, ints: values}];
    const H = C / d;
    const x = before.join() === '0,1,2' ? t0.input[0] : node('Transpose_0', 'Transpose', [t0.input[0]], v('tokens'), perm(before));
    let y = node('in_proj/MatMul', 'MatMul', [x, mIn.input[1]], v('in_proj'));
    if (aIn !== undefined && bInName !== undefined) y = node('in_proj/Add', 'Add', [y, bInName], v('in_proj_bias'));
    y = node('Reshape', 'Reshape', [y, ints(v('qkv_shape'), [0, -1, 3, H, d])], v('qkv'));
    const qkvT = node('Transpose', 'Transpose', [y], v('qkv_t'), perm([2, 0, 3, 1, 4]));
    const [q, k, vv] = [0, 1, 2].map((i) => node(`Gather_${i}`, 'Gather', [qkvT, scalarIndex(i)], v(`part${i}`), [{name: 'axis', type: 2, i: 0}]));
    const qs = node('Div', 'Div', [q, div.input[1]], v('q_scaled'));
    const kT = node('Transpose_1', 'Transpose', [k], v('k_t'), perm([0, 1, 3, 2]));
    const s = node('MatMul', 'MatMul', [qs, kT], v('scores'));
    const p = node('Softmax', 'Softmax', [s], v('weights'), [{name: 'axis', type: 2, i: -1}]);
    const o = node('MatMul_1', 'MatMul', [p, vv], v('mixed'));
    const oT = node('Transpose_2', 'Transpose', [o], v('mixed_t'), perm([0, 2, 1, 3]));
    y = node('Reshape_1', 'Reshape', [oT, ints(v('out_shape'), [0, -1, C])], v('merged'));
    // The out-projection as a MatMul by its weight transposed: Gemm's [out, in] under its state_dict name, where
    // nothing else reads it.
    let wName = wOutName;
    if (gemm) {
      const t: TensorMsg = {name: wOutName, dims: [C, C], data_type: DataType.FLOAT, float_data: Array.from({length: C * C}, (_, i) => wOut.values[(i % C) * C + Math.floor(i / C)])};
      if (inits.has(wOutName) && (readers.get(wOutName) ?? []).length === 1) replacedInits.set(wOutName, t);
      else {
        wName = v('out_proj_weight_t');
        newInits.push({...t, name: wName});
      }
    }
    if (bOutName === undefined) node('out_proj/MatMul', 'MatMul', [y, wName], last.output[0]);
    else node('out_proj/Add', 'Add', [node('out_proj/MatMul', 'MatMul', [y, wName], v('out_proj')), bOutName], last.output[0]);
    for (const n of [t0, mIn, aIn, first, second, third, ...heads, tq, tk, tv, div, scores, softmax, mix, back, merged, mOut, unmerged, last]) if (n !== undefined) removed.add(n);
    count++;
  }
  if (count === 0) return {graph: g, refusals};
  return {
    refusals,
    graph: {
    ...g,
    node: [...g.node.filter((n) => !removed.has(n)), ...added],
    initializer: [...g.initializer.map((t) => replacedInits.get(t.name) ?? t), ...newInits],
    },
  };
}

/**
 * How the rewrites (this one, onnx/import/swin.ts) read a value of the file: `source` follows Identity nodes back (torch
 * shares one initializer between equal parameters so); `constant` is what the file holds there as a constant — an
 * initializer or a Constant's tensor, or the Transpose of a constant matrix (torch writes a Linear's weight so on
 * tokens when it does not fold constants) — or undefined.
 */
export function valueReader(producer: ReadonlyMap<string, NodeMsg>, inits: ReadonlyMap<string, TensorMsg>, file: string): {source(v: string): string; constant(w: string | undefined): Const | undefined} {
  const source = (v: string): string => {
    for (let p = producer.get(v), hops = 0; p?.op_type === 'Identity' && hops <= producer.size; p = producer.get(v), hops++) v = p.input[0];
    return v;
  };
  const constant = (w: string | undefined): Const | undefined => {
    if (w === undefined || w === '') return undefined;
    const v = source(w);
    const made = producer.get(v);
    const perm = made?.attribute.find((a) => a.name === 'perm')?.ints?.map(Number).join(',');
    if (made?.op_type === 'Transpose' && perm === '1,0' && !inits.has(v)) {
      const m = constant(made.input[0]);
      if (m?.kind !== 'float' || m.dims.length !== 2) return undefined;
      const [r, c] = m.dims;
      return {kind: 'float', dims: [c, r], values: Float32Array.from({length: r * c}, (_, i) => m.values[(i % r) * c + Math.floor(i / r)])};
    }
    const t = inits.get(v) ?? (made?.op_type === 'Constant' ? made.attribute.find((a) => a.name === 'value')?.t ?? undefined : undefined);
    return t === undefined ? undefined : readConst(t, file, `constant ${v}`);
  };
  return {source, constant};
}

/** The indices of the nodes of `g` that the value `output` needs (what produces it, and what that reads, …). */
export function neededNodes(g: GraphMsg, output: string): Set<number> {
  const producer = new Map<string, number>();
  g.node.forEach((n, i) => {
    for (const o of n.output) if (o !== '') producer.set(o, i);
  });
  const needed = new Set<number>();
  const stack = [output];
  while (stack.length > 0) {
    const p = producer.get(stack.pop() ?? '');
    if (p === undefined || needed.has(p)) continue;
    needed.add(p);
    stack.push(...g.node[p].input.filter((v) => v !== ''));
  }
  return needed;
}
