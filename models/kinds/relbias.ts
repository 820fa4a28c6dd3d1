import {MAX_IMPORT_SIDE, MAX_WIDTH, MAX_WINDOW, type KindDef, type NodeBase, type Ops, type Pair} from './kind';
import {paddedSize} from './windows';

/**
 * torchvision Swin's relative position bias, and for shifted windows its attention mask, added to the scores of a
 * windowed attention [nW, heads, T, T] (T = wh·ww tokens a window): x + B + M. B[h, i, j] =
 * table[index[i·T + j], h], gathered from a learned table [(2wh − 1)(2ww − 1), heads] (the state_dict's
 * `relative_position_bias_table`) by torchvision's relative_position_index, a constant of the window; M[w, i, j] is 0
 * where tokens i and j of window w come from the same region of the rolled image and −100 where not (torchvision's
 * attn_mask, a constant of the padded image, the window and the shift), none without a shift. The table trains as a
 * float parameter of role `embedding` (never constrained, no weight decay: the Swin authors' recipe leaves it out).
 * The gradients are PyTorch's: gy for x; for the table, gy summed over the batch and the windows, then added into the
 * rows the index reads (a scatter-add: every row is read by several pairs of tokens).
 */
export interface RelBiasNode extends NodeBase {
  readonly kind: 'relbias';
  readonly input: string;
  readonly heads: number;
  readonly window: Pair;
  /** The image the windows were cut from, before padding (the mask's regions are the padded image's). */
  readonly size: Pair;
  /** The shift of the windows; [0, 0]: no mask. */
  readonly shift: Pair;
}

export const TABLE = 'relative_position_bias_table';
/** The most tokens a window may have (Swin's are 7×7 to 16×16): the index and the mask hold T² values each. */
export const MAX_WINDOW_TOKENS = 1024;

/** The table's rows: one per relative offset (dy, dx) within a window. */
export const tableRows = (window: Pair): number => (2 * window[0] - 1) * (2 * window[1] - 1);

/** torchvision's relative_position_index: for tokens i, j of a window (row by row), the table row of their offset. */
export function relativeIndex(window: Pair): Int32Array {
  const [wh, ww] = window;
  const t = wh * ww;
  const index = new Int32Array(t * t);
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) {
      const dy = Math.floor(i / ww) - Math.floor(j / ww) + wh - 1;
      const dx = (i % ww) - (j % ww) + ww - 1;
      index[i * t + j] = dy * (2 * ww - 1) + dx;
    }
  }
  return index;
}

/** The positions [start, end) of `length` that Python's slice [a:b] takes (negative from the end; b null: to the end). */
const pySlice = (a: number, b: number | null, length: number): Pair => {
  const at = (v: number): number => Math.min(length, Math.max(0, v < 0 ? v + length : v));
  return [at(a), b === null ? length : at(b)];
};

/**
 * torchvision's attn_mask for shifted windows, [nW, 1, T, T] as it is added: each position of the padded image labelled
 * by the region of the shifted image it comes from (3 × 3 slice assignments in its order), windowed, 0 between tokens
 * of the same label and −100 between others.
 */
export function shiftMask(size: Pair, window: Pair, shift: Pair): Float32Array {
  const [ph, pw] = paddedSize(size, window);
  const [wh, ww] = window;
  const label = new Int32Array(ph * pw);
  const hs: [number, number | null][] = [[0, -wh], [-wh, -shift[0]], [-shift[0], null]];
  const ws: [number, number | null][] = [[0, -ww], [-ww, -shift[1]], [-shift[1], null]];
  let count = 0;
  for (const [h0, h1] of hs) {
    for (const [w0, w1] of ws) {
      const [r0, r1] = pySlice(h0, h1, ph);
      const [c0, c1] = pySlice(w0, w1, pw);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) label[r * pw + c] = count;
      count++;
    }
  }
  const [nh, nw] = [ph / wh, pw / ww];
  const t = wh * ww;
  const mask = new Float32Array(nh * nw * t * t);
  for (let w = 0; w < nh * nw; w++) {
    const tokenLabel = (i: number): number => label[(Math.floor(w / nw) * wh + Math.floor(i / ww)) * pw + (w % nw) * ww + (i % ww)];
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) mask[(w * t + i) * t + j] = tokenLabel(i) === tokenLabel(j) ? 0 : -100;
  }
  return mask;
}

const shifted = (n: RelBiasNode): boolean => n.shift[0] > 0 || n.shift[1] > 0;

/** B [heads, T, T] from the table's graph value. */
function gathered(o: Ops, n: RelBiasNode, table: string): string {
  const t = n.window[0] * n.window[1];
  const index = o.i64Table(`relative position index ${n.window.join('x')}`, [t * t], BigInt64Array.from(relativeIndex(n.window), (v) => BigInt(v)));
  const rows = o.op('Reshape', [o.op('Gather', [table, index], {axis: 0}), o.i64([t, t, n.heads])]);
  return o.op('Transpose', [rows], {perm: [2, 0, 1]});
}

/** The mask's graph value [nW, 1, T, T]. */
function mask(o: Ops, n: RelBiasNode): string {
  const [ph, pw] = paddedSize(n.size, n.window);
  const t = n.window[0] * n.window[1];
  const key = `swin mask ${n.size.join('x')} ${n.window.join('x')} ${n.shift.join('x')}`;
  return o.f32Table(key, [(ph / n.window[0]) * (pw / n.window[1]), 1, t, t], shiftMask(n.size, n.window, n.shift));
}

export const relbias: KindDef<RelBiasNode> = {
  kind: 'relbias',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => {
    const [ph, pw] = paddedSize(n.size, n.window);
    const t = n.window[0] * n.window[1];
    if (t > MAX_WINDOW_TOKENS) return `has windows of ${n.window.join('×')} tokens, more than ${MAX_WINDOW_TOKENS}`;
    const want = [(ph / n.window[0]) * (pw / n.window[1]), n.heads, t, t];
    if (x.join() !== want.join()) return `adds a ${n.heads}-head bias of ${n.window.join('×')} windows of a ${n.size.join('×')} image to scores [${x.join(', ')}], expected [${want.join(', ')}]`;
    return n.shift.some((s, i) => s >= [ph, pw][i]) ? `shifts by [${n.shift.join(', ')}], not less than its padded ${ph}×${pw} image` : undefined;
  },
  read: (r) => ({
    kind: 'relbias',
    name: r.name,
    input: r.value('input'),
    heads: r.int('heads', 1, MAX_WIDTH),
    window: r.pair('window', 1, MAX_WINDOW),
    size: r.pair('size', 1, MAX_IMPORT_SIDE),
    shift: r.pair('shift', 0, MAX_WINDOW),
  }),
  params: (n) => [{suffix: TABLE, role: 'embedding', shape: [tableRows(n.window), n.heads], trainable: true}],
  onnx(n, g) {
    const o = g.ops;
    const bias = gathered(o, n, g.param(`${n.name}.${TABLE}`));
    if (shifted(n)) g.emit(n, 'Add', [o.op('Add', [g.value(n.input), bias]), mask(o, n)]);
    else g.emit(n, 'Add', [g.value(n.input), bias]);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const table = g.param(`${n.name}.${TABLE}`, [tableRows(n.window), n.heads]);
    const biased = o.op('Add', [x, gathered(o, n, table)], {}, shifted(n) ? undefined : n.name);
    if (shifted(n)) o.op('Add', [biased, mask(o, n)], {}, n.name);
    const t = n.window[0] * n.window[1];
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      if (g.needsGrad(n.input)) g.accumulate(x, gy);
      // Summed over the batch and the windows → [heads, T, T] → [T·T, heads], added into the rows the index reads.
      const perPair = o.op('Reshape', [o.op('Transpose', [o.op('ReduceSum', [gy, o.i64([0, 1])], {keepdims: 0})], {perm: [1, 2, 0]}), o.i64([t * t, n.heads])]);
      const index = o.i64Table(`relative position index ${n.window.join('x')} as rows`, [t * t, 1], BigInt64Array.from(relativeIndex(n.window), (v) => BigInt(v)));
      g.accumulate(table, o.op('ScatterND', [o.f32(0, [tableRows(n.window), n.heads]), index, perPair], {reduction: 'add'}));
    });
  },
  fromOnnx: {
    // Written by the importer's rewrite of torchvision's shifted-window attention (onnx/import/swin.ts), never by torch.
    ops: ['SwinBias'],
    map(o) {
      const x = o.input();
      const from = o.computed(2);
      const v = [o.ints('window') ?? [], o.ints('shift') ?? []];
      if (v.some((p) => p.length !== 2 || p.some((d) => !Number.isSafeInteger(d) || d < 0 || d > MAX_WINDOW)) || v[0].some((d) => d < 1)) o.fail(`has window [${v[0].join(', ')}] and shift [${v[1].join(', ')}]`);
      if (from === undefined || from.shape.length !== 3) return 'SwinBias without the image its windows were cut from';
      const window: Pair = [v[0][0], v[0][1]];
      const heads = o.int('heads', 0);
      const p = o.param(1, 'relative position bias table', [tableRows(window), heads]);
      const name = o.layerName(o.stateName(1, TABLE));
      o.tensor(`${name}.${TABLE}`, p.dims, p.values);
      o.emit({kind: 'relbias', name, input: x.name, heads, window, size: [from.shape[0], from.shape[1]], shift: [v[1][0], v[1][1]]}, [x.shape]);
      return undefined;
    },
  },
};
