import {DataType, attributeOf, type AttributeMsg, type GraphMsg, type NodeMsg, type TensorMsg} from '../schema';
import {relativeIndex, tableRows} from '../../models/kinds/relbias';
import {neededNodes, valueReader} from './attention';

/**
 * torchvision 0.14's shifted-window attention (swin_transformer.py, `shifted_window_attention` of a
 * ShiftedWindowAttention module) as torch.onnx.export (PyTorch 1.13) writes it, recognised by its module and rewritten,
 * before the walk, into a batch-first graph the kinds map and train. torch's export computes the padding, the window
 * counts, the attention mask and every reshape from the input's shape at run time, and merges the batch with the
 * windows ([N·nW, T, C]); the rewrite keeps the windows an axis of each sample:
 *
 *   SwinWindows(x) [nW, T, C] (pad, roll, partition: models/kinds/windows.ts) → MatMul by qkv's weight (+ bias: the
 *   dense layer `<module>.qkv`) → Reshape to [nW, T, 3, heads, d] → Transpose [3, 0, 1, 4, 2, 5] → Gather 0, 1, 2 (q,
 *   k, v) → q · d^−0.5 → MatMul by kᵀ → SwinBias (relative position bias and mask: models/kinds/relbias.ts) → Softmax →
 *   MatMul by v → Transpose [0, 1, 3, 2, 4] → Reshape to [nW, T, C] → MatMul by proj's weight (+ bias:
 *   `<module>.proj`) → SwinWindows(·, x, merge) [H, W, C] (partition reversed, roll back, crop).
 *
 * What is read from the file: the module's input and output (its nodes are those named under its path), qkv and proj
 * (MatMul by [C, 3C] and [C, C] constants, each with its Add of a bias or none), the window (the partition's view to
 * [N, H/wh, wh, W/ww, ww, C]), the shift (the roll's Slices before it), and the relative position bias: the table as an
 * initializer gathered by torchvision's index, or, where torch folded that Gather (it does in eval mode), the gathered
 * [1, heads, T, T] constant, from which the table is read back (every row appears at the pairs of tokens the index
 * maps to it; they must agree). The heads come from the bias, the scale is torchvision's (C / heads)^−0.5. What the
 * rewrite does not find is refused by the module, naming what; the file's logits then check the rest.
 */

/** The operator domain of the nodes the rewrite writes that are no ONNX operator: the kinds map them, ONNX Runtime never sees them. */
export const REWRITE_DOMAIN = 'cbp.import';
export const REWRITE_OPS: ReadonlySet<string> = new Set(['SwinWindows', 'SwinBias']);

const OTHER = 'torchvision\'s shifted-window attention other than as cbp maps it (torchvision 0.14, torch 1.13\'s export)';

export function rewriteSwin(g: GraphMsg, file: string): {readonly graph: GraphMsg; readonly refusals: ReadonlyMap<string, string>} {
  const refusals = new Map<string, string>();
  const needed = new Set([...neededNodes(g, g.output[0]?.name ?? '')].map((i) => g.node[i]));
  const nodes = g.node.filter((n) => needed.has(n));
  const producer = new Map<string, NodeMsg>();
  for (const n of nodes) for (const o of n.output) producer.set(o, n);
  const readers = new Map<string, NodeMsg[]>();
  for (const n of nodes) for (const v of new Set(n.input)) readers.set(v, [...(readers.get(v) ?? []), n]);
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  // The values computed from the image (not through Shape): shape arithmetic and constants are not a module's input or output.
  const dynamic = new Set(g.input.map((i) => i.name).filter((name) => !inits.has(name)));
  for (const n of nodes) if (n.op_type !== 'Shape' && n.input.some((i) => dynamic.has(i))) for (const o of n.output) dynamic.add(o);
  const perm = (n: NodeMsg | undefined): string => (n === undefined ? '' : (attributeOf(n, 'perm')?.ints ?? []).map(Number).join(','));
  const {source, constant} = valueReader(producer, inits, file);
  /** One integer the file holds as a constant, also through Unsqueeze or Cast (as torch writes it without constant folding). */
  const oneInt = (w: string | undefined): number | undefined => {
    const p = w === undefined ? undefined : producer.get(source(w));
    if (p !== undefined && (p.op_type === 'Unsqueeze' || p.op_type === 'Cast')) return oneInt(p.input[0]);
    const c = constant(w);
    return c?.kind === 'int' && c.values.length === 1 && typeof c.values[0] === 'number' ? c.values[0] : undefined;
  };

  // The modules: the folder of each node name that has the partition's Transpose [0, 1, 3, 2, 4, 5] of a Reshape.
  const modules = new Map<string, NodeMsg>();
  for (const n of nodes) {
    const at = n.name.lastIndexOf('/');
    if (n.op_type !== 'Transpose' || perm(n) !== '0,1,3,2,4,5' || at <= 0 || producer.get(n.input[0])?.op_type !== 'Reshape') continue;
    const dir = n.name.slice(0, at);
    if (!modules.has(dir)) modules.set(dir, n);
  }
  const added: NodeMsg[] = [];
  const newInits: TensorMsg[] = [];
  const removed = new Set<NodeMsg>();
  let count = 0;
  for (const [dir, anchor] of modules) {
    const region = nodes.filter((n) => n.name.startsWith(`${dir}/`));
    const inside = new Set(region);
    if (!region.some((n) => n.op_type === 'Softmax')) continue;
    const miss = (why: string): void => {
      refusals.set(anchor.output[0], `${OTHER}: ${why}`);
    };
    const softmaxes = region.filter((n) => n.op_type === 'Softmax').length;
    if (softmaxes !== 1) {
      miss(`${softmaxes} Softmax nodes (expected one)`);
      continue;
    }
    // Its one computed input and its one output read outside.
    const ins = new Set<string>();
    for (const n of region) {
      for (const v of n.input) {
        const p = producer.get(v);
        if (dynamic.has(v) && (p === undefined || !inside.has(p))) ins.add(v);
      }
    }
    const outs = new Set<string>();
    const graphOutputs = new Set(g.output.map((o) => o.name));
    for (const n of region) for (const o of n.output) if (dynamic.has(o) && (graphOutputs.has(o) || (readers.get(o) ?? []).some((r) => !inside.has(r)))) outs.add(o);
    if (ins.size !== 1 || outs.size !== 1) {
      miss(`${ins.size} values in and ${outs.size} out (expected one of each)`);
      continue;
    }
    const [x] = [...ins];
    const [y] = [...outs];
    // torchvision 0.14 calls F.dropout(attn, p=attention_dropout) and F.dropout(x, p=dropout) without `training`, so
    // they drop values even in eval mode: the file's Dropout nodes (ratio, training_mode true). cbp maps p = 0 only.
    const dropping = region.filter((n) => n.op_type === 'Dropout').map((n) => constant(n.input[1])).find((r) => r === undefined ? false : r.kind !== 'float' || r.values.some((p) => p !== 0));
    if (dropping !== undefined) {
      miss(`dropout p = ${Array.from(dropping.values, (p) => Number(Number(p).toPrecision(6))).join(', ')} (attention_dropout or dropout), which torchvision 0.14 applies in eval mode too; cbp maps p = 0`);
      continue;
    }
    // The window: the partition's view to [N, H/wh, wh, W/ww, ww, C], its shape a Concat of six.
    const view = producer.get(anchor.input[0]);
    const shape = producer.get(view?.input[1] ?? '');
    const [wh, ww] = [oneInt(shape?.input[2]), oneInt(shape?.input[4])];
    if (view === undefined || shape?.op_type !== 'Concat' || shape.input.length !== 6 || wh === undefined || ww === undefined || wh < 1 || ww < 1) {
      miss('no view to windows [N, H/wh, wh, W/ww, ww, C] of a constant window');
      continue;
    }
    // Back from the view: the roll (Concat of two Slices on axis 1, then 2), the padding (Pad), the module's input.
    const shift = [0, 0];
    let v = view.input[0];
    let bad = false;
    for (let p = producer.get(v); p !== undefined && p.op_type === 'Concat' && inside.has(p); p = producer.get(v)) {
      const axis = Number(attributeOf(p, 'axis')?.i ?? 0);
      const [a, b] = p.input.map((s) => producer.get(s));
      const from = oneInt(a?.input[1]);
      if (p.input.length !== 2 || a?.op_type !== 'Slice' || b?.op_type !== 'Slice' || a.input[0] !== b.input[0] || (axis !== 1 && axis !== 2) || from === undefined || from < 1 || oneInt(b.input[1]) !== 0) {
        bad = true;
        break;
      }
      shift[axis - 1] = from;
      v = a.input[0];
    }
    const pad = producer.get(v);
    if (pad?.op_type === 'Pad' && inside.has(pad)) v = pad.input[0];
    if (bad || v !== x) {
      miss('no roll (Slice and Concat on the height or width) and padding between its input and the windows');
      continue;
    }
    // qkv and proj: MatMul by [C, 3C] and [C, C] constants, each optionally followed by an Add of a constant.
    const dense = (factor: number): {w: string; b?: string; C: number} | undefined => {
      const found = region.filter((n) => {
        const w = constant(n.input[1]);
        return n.op_type === 'MatMul' && w?.kind === 'float' && w.dims.length === 2 && w.dims[1] === factor * w.dims[0];
      });
      if (found.length !== 1) return undefined;
      const m = found[0];
      const w = constant(m.input[1]);
      const C = w?.dims[0] ?? 0;
      const after = readers.get(m.output[0]) ?? [];
      const add = after.length === 1 && after[0].op_type === 'Add' ? after[0] : undefined;
      const b = add?.input.find((i) => i !== m.output[0]);
      const bias = constant(b);
      if (add === undefined || b === undefined) return {w: m.input[1], C};
      return bias?.kind === 'float' && bias.values.length === factor * C ? {w: m.input[1], b, C} : undefined;
    };
    const qkv = dense(3);
    const proj = dense(1);
    if (qkv === undefined || proj === undefined || proj.C !== qkv.C) {
      miss('no qkv projection (MatMul by a [C, 3C] constant, + bias) and proj (MatMul by a [C, C] constant, + bias)');
      continue;
    }
    const C = qkv.C;
    const T = wh * ww;
    // The relative position bias: a [R, heads] table gathered by torchvision's index, or that Gather folded to [1, heads, T, T].
    const rows = tableRows([wh, ww]);
    const index = relativeIndex([wh, ww]);
    let table: {name: string; heads: number; values: Float32Array} | undefined;
    let why = 'no relative position bias (a [(2wh − 1)(2ww − 1), heads] table gathered by relative_position_index, or its [1, heads, T, T] gathered values)';
    for (const n of region) {
      if (n.op_type === 'Gather' && table === undefined) {
        const t = constant(n.input[0]);
        const idx = constant(n.input[1]);
        if (t?.kind !== 'float' || t.dims.length !== 2 || t.dims[0] !== rows || idx?.kind !== 'int') continue;
        if (idx.values.length !== index.length || idx.values.some((k, i) => k !== index[i])) {
          why = 'a relative position index other than torchvision\'s for its window';
          continue;
        }
        table = {name: source(n.input[0]), heads: t.dims[1], values: t.values};
      }
      if (n.op_type === 'Add' && table === undefined) {
        const k = n.input.findIndex((i) => {
          const c = constant(i);
          return c?.kind === 'float' && c.dims.length === 4 && c.dims[0] === 1 && c.dims[2] === T && c.dims[3] === T;
        });
        const c = k < 0 ? undefined : constant(n.input[k]);
        if (c?.kind !== 'float') continue;
        const heads = c.dims[1];
        const values = new Float32Array(rows * heads);
        const seen = new Uint8Array(rows);
        let agree = true;
        for (let p = 0; p < T * T && agree; p++) {
          const r = index[p];
          for (let h = 0; h < heads; h++) {
            const b = c.values[h * T * T + p];
            if (seen[r] === 1 && values[r * heads + h] !== b) agree = false;
            values[r * heads + h] = b;
          }
          seen[r] = 1;
        }
        if (!agree) {
          why = 'a [1, heads, T, T] bias that is not one table gathered by torchvision\'s relative_position_index';
          continue;
        }
        table = {name: '', heads, values};
      }
    }
    if (table === undefined || table.heads < 1 || C % table.heads !== 0) {
      miss(table === undefined ? why : `${table.heads} heads for ${C} channels`);
      continue;
    }
    // The state_dict name of a folded table: the module's path (`/features/features.1/features.1.0/attn` → features.1.0.attn).
    let tableName = table.name;
    if (!inits.has(tableName)) {
      const segments = dir.slice(1).split('/');
      let path = '';
      let last = '';
      for (const s of segments) {
        path = last !== '' && s.startsWith(`${last}.`) ? path + s.slice(last.length) : path === '' ? s : `${path}.${s}`;
        last = s;
      }
      tableName = `${path}.relative_position_bias_table`;
      if (inits.has(tableName) || newInits.some((t) => t.name === tableName)) tableName = `${y}::swin${count}/relative_position_bias_table`;
      newInits.push({name: tableName, dims: [rows, table.heads], data_type: DataType.FLOAT, float_data: Array.from(table.values)});
    }
    const H = table.heads;
    const d = C / H;

    const val = (s: string): string => `${y}::swin${count}/${s}`;
    const ints = (name: string, values: number[]): string => {
      newInits.push({name: val(name), dims: [values.length], data_type: DataType.INT64, int64_data: values});
      return val(name);
    };
    const node = (name: string, op: string, input: string[], output: string, attribute: AttributeMsg[] = [], domain = ''): string => {
      added.push({name: `${dir}/${name}`, op_type: op, input, output: [output], attribute, ...(domain !== '' ? {domain} : {})});
      return output;
    };
    const intsAttr = (name: string, values: number[]): AttributeMsg => ({name, type: 7, ints: values});
    const intAttr = (name: string, value: number): AttributeMsg => ({name, type: 2, i: value});
    const swin = [intsAttr('window', [wh, ww]), intsAttr('shift', shift)];
    const w = node('windows/SwinWindows', 'SwinWindows', [x], val('windows'), swin, REWRITE_DOMAIN);
    let z = node('qkv/MatMul', 'MatMul', [w, qkv.w], val('qkv'));
    if (qkv.b !== undefined) z = node('qkv/Add', 'Add', [z, qkv.b], val('qkv_bias'));
    z = node('heads/Reshape', 'Reshape', [z, ints('qkv_shape', [0, -1, T, 3, H, d])], val('qkv_heads'));
    const moved = node('heads/Transpose', 'Transpose', [z], val('qkv_t'), [intsAttr('perm', [3, 0, 1, 4, 2, 5])]);
    // Each node under a part of the module (`/…/attn/q/Mul` → features.1.0.attn.q): the module's own name is the bias's, which holds its table.
    const [q, k, vv] = [0, 1, 2].map((i) => {
      const at = val(`index${i}`);
      newInits.push({name: at, dims: [], data_type: DataType.INT64, int64_data: [i]});
      return node(`${'qkv'[i]}/Gather`, 'Gather', [moved, at], val(`part${i}`), [intAttr('axis', 0)]);
    });
    const scale = val('scale');
    newInits.push({name: scale, dims: [], data_type: DataType.FLOAT, float_data: [Math.fround(d ** -0.5)]});
    const qs = node('q/Mul', 'Mul', [q, scale], val('q_scaled'));
    const kT = node('k/Transpose', 'Transpose', [k], val('k_t'), [intsAttr('perm', [0, 1, 2, 4, 3])]);
    const s = node('scores/MatMul', 'MatMul', [qs, kT], val('scores'));
    const biased = node('bias/SwinBias', 'SwinBias', [s, tableName, x], val('biased'), [...swin, intAttr('heads', H)], REWRITE_DOMAIN);
    const p = node('softmax/Softmax', 'Softmax', [biased], val('weights'), [intAttr('axis', -1)]);
    const o = node('mix/MatMul', 'MatMul', [p, vv], val('mixed'));
    const oT = node('mix/Transpose', 'Transpose', [o], val('mixed_t'), [intsAttr('perm', [0, 1, 3, 2, 4])]);
    z = node('mix/Reshape', 'Reshape', [oT, ints('out_shape', [0, -1, T, C])], val('merged'));
    z = node('proj/MatMul', 'MatMul', [z, proj.w], val('proj'));
    if (proj.b !== undefined) z = node('proj/Add', 'Add', [z, proj.b], val('proj_bias'));
    node('merge/SwinWindows', 'SwinWindows', [z, x], y, [...swin, intAttr('merge', 1)], REWRITE_DOMAIN);
    const old = producer.get(y);
    if (old !== undefined) removed.add(old);
    count++;
  }
  if (count === 0) return {graph: g, refusals};
  return {refusals, graph: {...g, node: [...g.node.filter((n) => !removed.has(n)), ...added], initializer: [...g.initializer, ...newInits]}};
}
