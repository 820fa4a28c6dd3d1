import {CbpError} from '../../src/core/errors';
import {globRegExp} from '../../src/core/checks';
import {listed, quoted, shown} from '../../src/core/shown';
import type {Weights} from '../../src/core/weights';
import {INPUT, KINDS, checkSpec, isWeightNode, kindOf, type ModelSpec, type SpecNode} from '../../models/index';
import {MAX_IMPORT_SIDE, type KindDef, type OnnxAhead, type OnnxAttributes, type OnnxHeld, type OnnxImport, type OnnxNode} from '../../models/kinds/index';
import {attributeOf, type ModelMsg, type NodeMsg, type TensorMsg} from '../schema';
import {neededNodes, rewriteAttention} from './attention';
import {BATCH, readConst, type Const} from './constants';
import {FOLD_OPS, fold, reshapeConst, type FoldInput} from './fold';
import {refusalMessage, type RefusedNode} from './refusal';
import {REWRITE_DOMAIN, REWRITE_OPS, rewriteSwin} from './swin';

/** The opsets of the default domain the importer reads: what torch.onnx.export writes from 1.8 to 2.x. */
export const MIN_OPSET = 11;
export const MAX_OPSET = 18;
/** The IR versions the importer reads: from the first with opset imports to the newest ONNX Runtime 1.30 runs. */
export const MIN_IR_VERSION = 3;
export const MAX_IR_VERSION = 13;
/** The largest channel count and input side an imported model may declare. */
const MAX_CHANNELS = 64;
const MAX_SIDE = MAX_IMPORT_SIDE;

/** A kind's claim on ONNX ops: its name and its `fromOnnx`. */
interface Claim {
  readonly kind: string;
  readonly by: OnnxImport<SpecNode>;
}
/** The kinds that claim each ONNX op (`fromOnnx` in models/kinds/*.ts), in registry order. */
const CLAIMS = new Map<string, Claim[]>();
const DEFS: readonly KindDef<SpecNode>[] = Object.values(KINDS);
for (const {kind, fromOnnx} of DEFS) {
  if (fromOnnx !== undefined) for (const op of fromOnnx.ops) CLAIMS.set(op, [...(CLAIMS.get(op) ?? []), {kind, by: fromOnnx}]);
}
/** Passed on by the importer itself: Identity's output is its input. */
const PASSED_OPS = ['Identity'];
/** ONNX operators mapped onto node kinds (claimed by models/kinds) or passed on; with FOLD_OPS, everything the importer reads. */
export const MAPPED_OPS: readonly string[] = [...CLAIMS.keys(), ...PASSED_OPS].filter((op) => !REWRITE_OPS.has(op));
const KNOWN = new Set<string>([...MAPPED_OPS, ...FOLD_OPS, ...REWRITE_OPS]);
const FOLDS = new Set<string>(FOLD_OPS);

export interface ImportedGraph {
  readonly spec: ModelSpec;
  readonly weights: Weights;
  /** The ONNX node each spec node came from (for --keep-float and messages). */
  readonly sources: ReadonlyMap<string, string>;
  readonly warnings: readonly string[];
  /** The batch size the file fixes, or undefined when it is symbolic. */
  readonly batch?: number;
  /** The nodes the output needs (indices into the file's nodes): all that the check in ONNX Runtime runs. */
  readonly needed: ReadonlySet<number>;
  /** The name of the file's image input. */
  readonly input: string;
}

/** The batch the import is checked on in ONNX Runtime when the file leaves it symbolic. */
export const CHECK_BATCH = 2;
/**
 * The most bytes of float32 values the check in ONNX Runtime may hold: the input and every layer's output for the
 * whole batch (ResNet-50 at 224 about 0.2 GB for two images). Counted from the spec, before anything runs; a file
 * that fixes a larger batch is refused with the advice to export a symbolic one.
 */
export const MAX_CHECK_BYTES = 2 ** 30;

type Val =
  | {readonly t: 'const'; readonly c: Const}
  | {readonly t: 'init'; readonly tensor: TensorMsg}
  | {readonly t: 'dyn'; readonly name: string; readonly shape: readonly number[]}
  // Partway through a pattern of several nodes one kind maps (ShuffleNet's channel shuffle): `by` maps what reads it.
  | {readonly t: 'held'; readonly held: OnnxHeld; readonly by: OnnxImport<SpecNode>}
  | {readonly t: 'poison'};

/**
 * Thrown while one node is read when what it does is valid ONNX that cbp does not map (a shape a kind does not
 * accept): the walk lists the node with the others and goes on.
 */
class Unmapped extends Error {
  constructor(readonly label: string) {
    super(label);
  }
}

/** Thrown when a kind asks for the computed value a node reads first and it reads none: `<op> of constants only`. */
class NotComputed extends Error {}

const intAttr = (node: NodeMsg, name: string, def: number): number => attributeOf(node, name)?.i ?? def;
const intsAttr = (node: NodeMsg, name: string): readonly number[] | undefined => attributeOf(node, name)?.ints;
const floatAttr = (node: NodeMsg, name: string, def: number): number => {
  const a = attributeOf(node, name);
  return a === undefined ? def : (a.f ?? def);
};
const strAttr = (node: NodeMsg, name: string): string => {
  const s = attributeOf(node, name)?.s;
  return s === undefined || s === null ? '' : Buffer.from(s).toString('utf8');
};

/** A node's op type and attributes as a kind judges them; `used` holds the values the graph's output needs. */
function attributesOf(node: NodeMsg, used: ReadonlySet<string>): OnnxAttributes {
  return {
    op: node.op_type,
    int: (name, def) => intAttr(node, name, def),
    ints: (name) => intsAttr(node, name),
    float: (name, def) => floatAttr(node, name, def),
    string: (name) => strAttr(node, name),
    outputs: node.output.length,
    outputUsed: (k) => node.output[k] !== undefined && node.output[k] !== '' && used.has(node.output[k]),
  };
}

/**
 * What makes a node one the importer does not map, from its op type and attributes alone (shapes come later), or
 * undefined. Every such node of a model is listed in one error.
 */
function unsupported(node: NodeMsg, used: ReadonlySet<string>): string | undefined {
  const domain = node.domain ?? '';
  // The importer's own rewrites write a few ops of a domain of theirs (swin.ts); no file's node is one of them.
  if (domain === REWRITE_DOMAIN ? !REWRITE_OPS.has(node.op_type) : REWRITE_OPS.has(node.op_type)) return shown(`${domain === '' ? '' : `${domain}.`}${node.op_type}`, 40);
  if (domain !== '' && domain !== 'ai.onnx' && domain !== REWRITE_DOMAIN) return shown(`${domain}.${node.op_type}`, 40);
  if (!KNOWN.has(node.op_type) || node.attribute.some((a) => a.g)) return shown(node.op_type, 40);
  // The kinds that claim the op judge its attributes: refused when each of them refuses it (as `map` is), for the
  // first one's reason (a ReduceMean over the last axis is no global average pool, but may be a layer norm's).
  const attributes = attributesOf(node, used);
  const reasons = (CLAIMS.get(node.op_type) ?? []).map(({by}) => by.refuses?.(attributes));
  return reasons.every((why) => why !== undefined) ? reasons[0] : undefined;
}

/**
 * The module path torch.onnx.export (1.13+) writes into node names, as PyTorch's state_dict names it:
 * `/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`, `/layer2/layer2.0/downsample/downsample.0/Conv` →
 * `layer2.0.downsample.0`. Undefined for a node outside any module (`/Reshape`) or a name of another form.
 */
function modulePath(onnxName: string): string | undefined {
  if (!onnxName.startsWith('/')) return undefined;
  const segments = onnxName.slice(1).split('/');
  segments.pop();
  let path = '';
  let last = '';
  for (const s of segments) {
    if (s === '') return undefined;
    path = last !== '' && s.startsWith(`${last}.`) ? path + s.slice(last.length) : path === '' ? s : `${path}.${s}`;
    last = s;
  }
  return path === '' ? undefined : path;
}

/** A state_dict prefix from a parameter's value name (`layer1.0.bn1.weight` → `layer1.0.bn1`), unless anonymous. */
function stateName(value: string | undefined, suffix: string): string | undefined {
  if (value === undefined || value.startsWith('onnx::') || !value.endsWith(`.${suffix}`)) return undefined;
  const prefix = value.slice(0, -suffix.length - 1);
  return prefix === '' ? undefined : prefix;
}

/**
 * Reads an ONNX classifier into a ModelSpec and its weights (PyTorch's layout, state_dict names where the file has
 * them). The graph is walked from its output, in dependency order (a cycle is refused); constant shape arithmetic
 * is folded; every other node must map onto a node kind. Nodes that do not are collected and refused together.
 */
export function importGraph(model: ModelMsg, file: string, opts: {readonly name: string; readonly keepFloat?: readonly string[]}): ImportedGraph {
  const fail = (why: string, code: 'BAD_ONNX' | 'UNSUPPORTED_ONNX' | 'OVER_BUDGET' = 'BAD_ONNX'): never => {
    throw new CbpError(`${file}: ${why}`, code);
  };
  if (model.ir_version < MIN_IR_VERSION || model.ir_version > MAX_IR_VERSION) {
    fail(`ir_version ${model.ir_version}; cbp imports IR versions ${MIN_IR_VERSION} to ${MAX_IR_VERSION}`, 'UNSUPPORTED_ONNX');
  }
  const opset = model.opset_import.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx')?.version;
  if (opset === undefined || opset < MIN_OPSET || opset > MAX_OPSET) {
    fail(`opset ${opset ?? '(none)'} of the default domain; cbp imports opsets ${MIN_OPSET} to ${MAX_OPSET} (torch.onnx.export(..., opset_version=${MAX_OPSET - 1}))`, 'UNSUPPORTED_ONNX');
  }
  // torch's nn.MultiheadAttention, which merges the batch with the heads, rewritten batch-first (attention.ts).
  const {graph: afterAttention, refusals: notMha} = rewriteAttention(model.graph, file);
  // torchvision's Swin attention, which merges the batch with its windows, rewritten with the windows per sample (swin.ts).
  const {graph: g, refusals: notSwin} = rewriteSwin(afterAttention, file);
  const notAttention = new Map([...notMha, ...notSwin]);
  const vals = new Map<string, Val>();
  for (const t of g.initializer) {
    if (vals.has(t.name)) fail(`two initializers are named ${quoted(t.name)}`);
    vals.set(t.name, {t: 'init', tensor: t});
  }
  const inputs = g.input.filter((i) => !vals.has(i.name));
  if (inputs.length !== 1) {
    fail(`the model has ${inputs.length} inputs (${listed(inputs.map((i) => i.name), 4) || 'none'}); cbp imports a classifier with one image input [N, C, H, W]`, 'UNSUPPORTED_ONNX');
  }
  const input = inputs[0];
  const tt = input.type?.tensor_type;
  const dims = tt?.shape?.dim ?? [];
  if (tt === undefined || tt === null || tt.elem_type !== 1 || dims.length !== 4) {
    fail(`input ${quoted(input.name)} is not a float32 image batch [N, C, H, W]`, 'UNSUPPORTED_ONNX');
  }
  const dimValue = (d: {dim_value?: number; dim_param?: string} | undefined): number | undefined => (d === undefined || (d.dim_param ?? '') !== '' ? undefined : d.dim_value);
  const bounds = [0, MAX_CHANNELS, MAX_SIDE, MAX_SIDE];
  const shape = [1, 2, 3].map((i) => {
    const v = dimValue(dims[i]);
    if (v === undefined || !Number.isSafeInteger(v) || v < 1 || v > bounds[i]) fail(`input ${quoted(input.name)} has dimension ${i} = ${v ?? 'symbolic'}; cbp imports a fixed image shape (channels 1 to ${MAX_CHANNELS}, sides 1 to ${MAX_SIDE})`, 'UNSUPPORTED_ONNX');
    return v ?? 0;
  });
  const inputShape = [shape[0], shape[1], shape[2]] as const;
  const batchDim = dimValue(dims[0]);
  if (batchDim !== undefined && batchDim !== 0 && (!Number.isSafeInteger(batchDim) || batchDim < 1)) {
    fail(`input ${quoted(input.name)} has a batch dimension of ${Number.isSafeInteger(batchDim) ? batchDim : 'more than 2^53'}, expected a positive integer or a symbolic one`, 'UNSUPPORTED_ONNX');
  }
  if (g.output.length !== 1) fail(`the model has ${g.output.length} outputs; cbp imports a classifier with one output (the logits)`, 'UNSUPPORTED_ONNX');
  const outputName = g.output[0].name;
  vals.set(input.name, {t: 'dyn', name: INPUT, shape: inputShape});

  // Who produces each value; then the nodes the output needs, found backwards without recursion.
  const producer = new Map<string, number>();
  g.node.forEach((n, i) => {
    for (const o of n.output) {
      if (o === '') continue;
      if (producer.has(o) || vals.has(o)) fail(`value ${quoted(o)} is defined twice (by node ${quoted(n.name)})`);
      producer.set(o, i);
    }
  });
  const needed = new Set<number>();
  const used = new Set<string>([outputName]);
  const stack = [outputName];
  while (stack.length > 0) {
    const v = stack.pop() ?? '';
    const p = producer.get(v);
    if (p === undefined) {
      if (!vals.has(v)) fail(`value ${quoted(v)} is read but nothing defines it`);
      continue;
    }
    if (needed.has(p)) continue;
    needed.add(p);
    for (const i of g.node[p].input) {
      if (i === '') continue;
      used.add(i);
      stack.push(i);
    }
  }
  // Dependency order (Kahn); what is left over lies on a cycle.
  const waiting = new Map<number, number>();
  const readers = new Map<number, number[]>();
  for (const i of needed) {
    const deps = new Set(g.node[i].input.map((v) => producer.get(v)).filter((p): p is number => p !== undefined));
    waiting.set(i, deps.size);
    for (const d of deps) readers.set(d, [...(readers.get(d) ?? []), i]);
  }
  const ready = [...needed].filter((i) => waiting.get(i) === 0).sort((a, b) => b - a);
  const order: number[] = [];
  while (ready.length > 0) {
    const i = ready.pop() ?? 0;
    order.push(i);
    for (const r of readers.get(i) ?? []) {
      const left = (waiting.get(r) ?? 0) - 1;
      waiting.set(r, left);
      if (left === 0) ready.push(r);
    }
  }
  if (order.length !== needed.size) {
    // Every node left waits on another left: walking back through them repeats a node, and that is a cycle.
    const left = (i: number): boolean => (waiting.get(i) ?? 0) > 0;
    const walk: number[] = [];
    const seen = new Map<number, number>();
    let at = [...needed].find(left) ?? 0;
    while (!seen.has(at)) {
      seen.set(at, walk.length);
      walk.push(at);
      at = g.node[at].input.map((v) => producer.get(v)).find((p): p is number => p !== undefined && left(p)) ?? at;
    }
    const cycle = walk.slice(seen.get(at)).reverse().map((i) => g.node[i].name || g.node[i].output[0]);
    fail(`the graph has a cycle through nodes ${listed(cycle, 8, (n) => quoted(String(n)))}`);
  }
  const consumers = new Map<string, number>();
  for (const i of needed) for (const v of g.node[i].input) consumers.set(v, (consumers.get(v) ?? 0) + 1);
  /** The needed nodes that read each value, each once, in the file's order: what a kind sees ahead (`readers`). */
  const readersOf = new Map<string, number[]>();
  for (const i of [...needed].sort((a, b) => a - b)) {
    for (const v of new Set(g.node[i].input)) {
      const list = readersOf.get(v);
      if (list !== undefined) list.push(i);
      else if (v !== '') readersOf.set(v, [i]);
    }
  }
  const ahead = (v: string | undefined): OnnxAhead[] =>
    (v === undefined || v === '' ? [] : readersOf.get(v) ?? []).map((i) => {
      const n = g.node[i];
      return {...attributesOf(n, used), inputNames: [...n.input], output: n.output[0] ?? '', readers: () => ahead(n.output[0])};
    });

  /** The nodes refused (with their reason) and those that read a refused node's output (what they would do cannot be judged without it). */
  const refused: RefusedNode[] = [];
  const refusedNode = (node: NodeMsg, reason?: string): RefusedNode => ({name: node.name || node.output[0] || '(unnamed)', op: node.op_type, module: modulePath(node.name), ...(reason !== undefined ? {reason} : {})});
  const refuse = (label: string, node: NodeMsg): void => {
    refused.push(refusedNode(node, label));
  };
  const nodes: SpecNode[] = [];
  const weights: Weights = new Map();
  const sources = new Map<string, string>();
  // Exporters share one initializer between equal parameters (torch: Identity nodes to one tensor). Each layer
  // gets its own array, as training updates the arrays in place.
  const owned = new Set<Float32Array>();
  const own = (key: string, t: {shape: readonly number[]; data: Float32Array}): void => {
    const data = owned.has(t.data) ? t.data.slice() : t.data;
    owned.add(data);
    weights.set(key, {shape: t.shape, data});
  };
  const taken = new Set<string>([INPUT, 'logits']);
  /** The values one image takes through the spec: its input and every layer's output (for the budget below). */
  let valuesPerImage = inputShape.reduce((a, b) => a * b, 1);
  let foldedBias = false;
  /** The spec node made from each ONNX node (by its first output) and that node's op type, for `made`. */
  const madeFrom = new Map<string, {readonly index: number; readonly op: string}>();
  const constOf = (v: string): Const | undefined => {
    const x = vals.get(v);
    if (x?.t === 'const') return x.c;
    if (x?.t !== 'init') return undefined;
    const c = readConst(x.tensor, file, 'initializer');
    vals.set(v, {t: 'const', c});
    return c;
  };

  /** The first free name among `bases` (cleaned), else the first with `#2`, `#3`, … */
  const uniqueName = (bases: readonly (string | undefined)[]): string => {
    const clean = bases.filter((b): b is string => b !== undefined && b !== '').map((b) => {
      const name = b.replace(/[^\w.\-/:]/g, '_').slice(0, 200);
      // Names of the form Relu_12 are what the ONNX writers make fresh: kept apart from them.
      return /^[A-Za-z]\w*_\d+$/.test(name) ? `n.${name}` : name;
    });
    let name = clean.find((c) => !taken.has(c)) ?? clean[0];
    for (let k = 2; taken.has(name); k++) name = `${clean[0]}#${k}`;
    taken.add(name);
    return name;
  };
  const push = (node: SpecNode, from: NodeMsg, inputShapes: readonly (readonly number[])[]): readonly number[] => {
    const why = kindOf(node).check(node, inputShapes);
    if (why !== undefined) throw new Unmapped(`${shown(from.op_type, 40)} whose ${node.kind} ${why}`);
    nodes.push(node);
    sources.set(node.name, from.name);
    const out = kindOf(node).shape(node, inputShapes);
    valuesPerImage += out.reduce((a, b) => a * b, 1);
    vals.set(from.output[0], {t: 'dyn', name: node.name, shape: out});
    madeFrom.set(from.output[0], {index: nodes.length - 1, op: from.op_type});
    return out;
  };

  for (const i of order) {
    const node = g.node[i];
    const ins = node.input.map((v) => (v === '' ? undefined : vals.get(v)));
    // Every node is judged, also past one refused: the error lists them all. What reads a refused node's output
    // is judged by its own op and attributes only (its input has no shape): the shape arithmetic after it too (a
    // Shape of it would fold, were its shape known), so that a refusal names what is missing, not what follows.
    const label = unsupported(node, used);
    if (label !== undefined) refuse(label, node);
    else if (ins.some((v) => v?.t === 'poison')) refused.push(refusedNode(node));
    if (label !== undefined || ins.some((v) => v?.t === 'poison')) {
      for (const o of node.output) vals.set(o, {t: 'poison'});
      continue;
    }
    const here = (why: string): never => fail(`node ${quoted(node.name)} (${shown(node.op_type)}) ${why}`);
    const dynAt = (k: number): (Val & {t: 'dyn'}) | undefined => {
      const v = ins[k];
      return v?.t === 'dyn' ? v : undefined;
    };
    /** A float constant the node reads as a parameter, with its dims checked by `expect`. */
    const param = (k: number, what: string, expect?: readonly number[]): {name: string; c: Const & {kind: 'float'}} => {
      const v = node.input[k];
      if (v === undefined || v === '') return here(`has no ${what}`);
      const c = constOf(v);
      if (c === undefined) return here(`takes its ${what} from ${quoted(v)}, which is not a constant (an initializer or a Constant)`);
      if (c.kind !== 'float') return here(`has an integer ${what} ${quoted(v)}`);
      if (expect !== undefined && c.dims.join(',') !== expect.join(',')) return here(`has ${what} ${quoted(v)} of dims [${c.dims.join(', ')}], expected [${expect.join(', ')}]`);
      const bad = c.values.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) return here(`has ${what} ${quoted(v)} holding ${c.values[bad]} at element ${bad}; cbp imports finite weights`);
      return {name: v, c};
    };
    const allConst = node.input.every((v) => v === '' || constOf(v) !== undefined);
    const op = node.op_type;

    if (op === 'Identity' && ins[0] !== undefined) {
      vals.set(node.output[0], ins[0]);
      continue;
    }
    // Computed: a layer's value, or one partway through a pattern (a layer norm's x − mean and √(variance + ε), a
    // Gather that takes q, k or v after a Transpose).
    const anyDyn = ins.some((v) => v?.t === 'dyn' || v?.t === 'held');
    // A fold-only op that reads a computed value is refused; one a kind claims too (Concat, Div, Sub, Gather) goes to the kinds.
    if ((FOLDS.has(op) && !(anyDyn && CLAIMS.has(op))) || ((op === 'Reshape' || op === 'Add' || op === 'Mul' || op === 'Slice' || op === 'Transpose') && allConst)) {
      const foldIns: (FoldInput | undefined)[] = node.input.map((v, k) => {
        if (v === '') return undefined;
        const d = dynAt(k);
        if (d !== undefined) return {shape: [BATCH, ...d.shape]};
        const c = constOf(v);
        return c === undefined ? undefined : {value: c};
      });
      let out: Const | undefined;
      if (op === 'Reshape') {
        const data = foldIns[0]?.value;
        const to = foldIns[1]?.value;
        out = data !== undefined && to !== undefined ? reshapeConst(data, to, intAttr(node, 'allowzero', 0) === 1, node.name, file) : undefined;
      } else if (op === 'Shape' ? foldIns[0] !== undefined : allConst) {
        out = fold(node, foldIns, opset ?? 0, file);
      }
      if (out === undefined) {
        refuse(`${op} of computed values`, node);
        vals.set(node.output[0], {t: 'poison'});
      } else {
        vals.set(node.output[0], {t: 'const', c: out});
      }
      continue;
    }
    /** Refuses the node under `label` (listed with the rest at the end); what reads it is judged without it. */
    const skip = (label: string): void => {
      refuse(label, node);
      for (const o of node.output) vals.set(o, {t: 'poison'});
    };
    /** The node as the kind of `claim` (one that claims its op, or made a value it reads) maps it: OnnxNode in models/kinds/kind.ts. */
    const nodeFor = ({kind, by}: Claim): OnnxNode<SpecNode> => ({
      ...attributesOf(node, used),
      inputs: node.input.length,
      input: () => {
        const x = dynAt(0);
        if (x === undefined) throw new NotComputed();
        return x;
      },
      computed: dynAt,
      given: (k) => node.input[k] !== undefined && node.input[k] !== '',
      inputName: (k) => node.input[k] ?? '',
      constant: (k) => (node.input[k] === undefined ? undefined : constOf(node.input[k])),
      param: (k, what, expect) => {
        const p = param(k, what, expect);
        return {name: p.name, dims: p.c.dims, values: p.c.values};
      },
      stateName: (k, suffix) => stateName(node.input[k], suffix),
      layerName: (fromParam, base) => uniqueName([fromParam, modulePath(node.name), node.name, base ?? node.op_type.toLowerCase()]),
      fail: here,
      tensor: (key, shape, data) => own(key, {shape, data}),
      emit: (n, shapes) => {
        push(n, node, shapes);
      },
      emitOutput: (k, n, shapes) => {
        // One part of a Split, its check's refusal a fault of the file (its parts are checked to cover the channels);
        // not counted in valuesPerImage.
        const why = kindOf(n).check(n, shapes);
        if (why !== undefined) here(why);
        nodes.push(n);
        sources.set(n.name, node.name);
        vals.set(node.output[k], {t: 'dyn', name: n.name, shape: kindOf(n).shape(n, shapes)});
      },
      pass: (value) => {
        vals.set(node.output[0], {t: 'dyn', name: value.name, shape: value.shape});
        // Passing on the node made from an input (a MatMul's bias, a layer norm's weight added to it): what reads
        // this output finds it with `made`, as passed on by this node's op.
        const from = node.input.map((v) => madeFrom.get(v)).find((m) => m !== undefined && nodes[m.index]?.name === value.name);
        if (from !== undefined) madeFrom.set(node.output[0], {index: from.index, op: node.op_type});
      },
      hold: (step, value, count) => {
        vals.set(node.output[0], {t: 'held', held: {kind, step, value: {name: value.name, shape: value.shape}, count}, by});
      },
      holdOutput: (k, step, value, count) => {
        if (node.output[k] === undefined || node.output[k] === '') here(`has no output ${k}`);
        vals.set(node.output[k], {t: 'held', held: {kind, step, value: {name: value.name, shape: value.shape}, count}, by});
      },
      held: (k) => {
        const v = ins[k];
        return v?.t === 'held' && v.held.kind === kind ? v.held : undefined;
      },
      holding: ins.some((v) => v?.t === 'held' && v.held.kind === kind),
      made: (k) => {
        const v = node.input[k];
        if (v === undefined) return undefined;
        const m = madeFrom.get(v);
        const n = m === undefined ? undefined : nodes[m.index];
        if (m === undefined || n === undefined || n.kind !== kind) return undefined;
        return {
          node: n,
          op: m.op,
          readers: consumers.get(v) ?? 0,
          replace: (r) => {
            nodes[m.index] = r;
          },
        };
      },
      foldedBatchNorm: () => {
        foldedBias = true;
      },
      readers: () => ahead(node.output[0]),
    });

    try {
      // torch's nn.MultiheadAttention that the rewrite did not map (attention.ts): refused at its first Transpose, saying why.
      const notMapped = notAttention.get(node.output[0] ?? '');
      if (notMapped !== undefined) {
        skip(notMapped);
        continue;
      }
      // A node that reads a value partway through a pattern goes to the kind that made it, whatever its op.
      const held = ins.find((v) => v?.t === 'held');
      if (held?.t === 'held') {
        const why = held.by.map(nodeFor({kind: held.held.kind, by: held.by}));
        if (why !== undefined) skip(why || shown(op, 40));
        continue;
      }
      const claims = CLAIMS.get(op) ?? [];
      if (claims.length === 0) {
        // Identity of what is not a value (the importer passes the others on, above).
        if (dynAt(0) === undefined) throw new NotComputed();
        skip(shown(op, 40));
        continue;
      }
      // Each kind that claims the op, in registry order, until one maps it ('' from a kind: the node is nothing to it).
      let mapped = false;
      let first: string | undefined;
      for (const claim of claims) {
        const why = claim.by.map(nodeFor(claim));
        if (why === undefined) {
          mapped = true;
          break;
        }
        if (why !== '') first ??= why;
      }
      if (!mapped && claims.length > 1) {
        // Refused by every kind that claims the op: listed under the first one's reason, its first output poisoned.
        refuse(first ?? shown(op, 40), node);
        vals.set(node.output[0], {t: 'poison'});
      } else if (!mapped) {
        skip(first ?? shown(op, 40));
      }
    } catch (err) {
      if (err instanceof NotComputed) {
        refuse(`${op} of constants only`, node);
        vals.set(node.output[0], {t: 'poison'});
      } else if (err instanceof Unmapped) {
        skip(err.label);
      } else {
        throw err;
      }
    }
  }

  if (refused.some((n) => n.reason !== undefined)) {
    // The op types of each module's nodes, for what layer the refused ones look like.
    const moduleOps = new Map<string, Set<string>>();
    for (const i of order) {
      const m = modulePath(g.node[i].name);
      if (m !== undefined) moduleOps.set(m, (moduleOps.get(m) ?? new Set()).add(g.node[i].op_type));
    }
    const head = `${file}: cannot import this model; `;
    const tail = `cbp maps ${MAPPED_OPS.join(', ')} and folds constant shape arithmetic (${FOLD_OPS.join(', ')})`;
    const {message, details} = refusalMessage(refused, moduleOps, tail, head.length + '; nothing was written'.length);
    throw new CbpError(`${head}${message}; nothing was written`, 'UNSUPPORTED_ONNX', details);
  }
  const out = vals.get(outputName);
  if (out?.t !== 'dyn' || out.name === INPUT) return fail(`the output ${quoted(outputName)} is not computed from the input by a layer`);
  if (out.shape.length !== 1) fail(`the output ${quoted(outputName)} has per-image shape [${out.shape.join(', ')}]; cbp imports classifiers whose output is [N, classes]`, 'UNSUPPORTED_ONNX');
  const batch = batchDim !== undefined && batchDim > 0 ? batchDim : CHECK_BATCH;
  const checkBytes = 4 * batch * valuesPerImage;
  if (!(checkBytes <= MAX_CHECK_BYTES)) {
    fail(
      `checking the import in ONNX Runtime would hold about ${(checkBytes / 2 ** 30).toPrecision(3)} GiB of values (batch ${batch} × ${valuesPerImage} values per image, the input and every layer's output); ` +
        `cbp's budget is ${MAX_CHECK_BYTES / 2 ** 30} GiB: export with a symbolic batch (dynamic_axes) or a smaller input`,
      'OVER_BUDGET',
    );
  }
  const spec: ModelSpec = {name: opts.name, inputShape, numClasses: out.shape[0], nodes: constrain(nodes, sources, opts.keepFloat ?? []), output: out.name};
  checkSpec(spec, file, 'BAD_ONNX');
  const warnings: string[] = [];
  // Batch norms folded by an eval-mode export leave convolutions with biases the exporter named itself (onnx::Conv_…).
  if (foldedBias && !spec.nodes.some((n) => n.kind === 'batchnorm')) {
    warnings.push(
      'the batch norms were folded into the convolutions by the export (torch.onnx.export in eval mode): they are imported as convolution biases and train as such; ' +
        'to keep them as batch norms, export with training=torch.onnx.TrainingMode.PRESERVE',
    );
  }
  // The file is checked as it is: where attention was rewritten, the file's own nodes the output needs.
  const run = g === model.graph ? needed : neededNodes(model.graph, outputName);
  return {spec, weights, sources, warnings, needed: run, input: input.name, ...(batchDim !== undefined && batchDim > 0 ? {batch: batchDim} : {})};
}

/**
 * CBP's choice of constrained layers, as the reference makes it: every convolution and dense layer except the
 * first weight layer and the last (the first conv and the classifier), and except those --keep-float names.
 */
function constrain(nodes: readonly SpecNode[], sources: ReadonlyMap<string, string>, keepFloat: readonly string[]): SpecNode[] {
  const weighted = nodes.filter(isWeightNode);
  const patterns = keepFloat.map((p) => ({p, re: globRegExp(p)}));
  const matches = (name: string, re: RegExp): boolean => re.test(name) || re.test(sources.get(name) ?? '');
  for (const {p, re} of patterns) {
    if (!weighted.some((n) => matches(n.name, re))) {
      throw new CbpError(`--keep-float ${p}: matches no convolution or dense layer; the layers are ${weighted.map((n) => n.name).join(', ')}`);
    }
  }
  const first = weighted[0];
  const last = weighted[weighted.length - 1];
  return nodes.map((n) => (isWeightNode(n) ? {...n, constrained: n !== first && n !== last && !patterns.some(({re}) => matches(n.name, re))} : n));
}
