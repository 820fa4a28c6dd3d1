import {CbpError} from '../../src/core/errors';
import {listed, quoted, shown} from '../../src/core/shown';
import type {Weights} from '../../src/core/weights';
import {INPUT, checkSpec, isWeightNode, kindOf, type ModelSpec, type Pair, type SpecNode} from '../../models/index';
import type {AttributeMsg, ModelMsg, NodeMsg, TensorMsg} from '../schema';
import {BATCH, readConst, type Const} from './constants';
import {FOLD_OPS, fold, reshapeConst, type FoldInput} from './fold';

/** The opsets of the default domain the importer reads: what torch.onnx.export writes from 1.8 to 2.x. */
export const MIN_OPSET = 11;
export const MAX_OPSET = 18;
/** The IR versions the importer reads: from the first with opset imports to the newest ONNX Runtime 1.30 runs. */
export const MIN_IR_VERSION = 3;
export const MAX_IR_VERSION = 13;
/** The largest channel count and input side an imported model may declare. */
const MAX_CHANNELS = 64;
const MAX_SIDE = 4096;

/** ONNX operators mapped onto node kinds (models/kinds); with FOLD_OPS, everything the importer reads. */
export const MAPPED_OPS = [
  'Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Add', 'Flatten', 'Reshape', 'Gemm', 'MatMul', 'Identity', 'Dropout',
  'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Mul', 'Concat', 'Pad', 'ReduceMean', 'Transpose', 'Slice', 'Split',
] as const;
const KNOWN = new Set<string>([...MAPPED_OPS, ...FOLD_OPS]);
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
  // A channel shuffle on its way (ShuffleNet): x viewed as [N, g, C/g, H, W], then with axes 1 and 2 swapped; only
  // the Transpose and the Reshape back to [N, C, H, W] may read these.
  | {readonly t: 'grouped' | 'swapped'; readonly src: {readonly name: string; readonly shape: readonly number[]}; readonly groups: number}
  | {readonly t: 'poison'};

/**
 * Thrown while one node is read when what it does is valid ONNX that cbp does not map (a shape a kind does not
 * accept, a MatMul of two computed values): the walk lists the node with the others and goes on.
 */
class Unmapped extends Error {
  constructor(readonly label: string) {
    super(label);
  }
}

const attr = (node: NodeMsg, name: string): AttributeMsg | undefined => node.attribute.find((a) => a.name === name);
const intAttr = (node: NodeMsg, name: string, def: number): number => attr(node, name)?.i ?? def;
const intsAttr = (node: NodeMsg, name: string): readonly number[] | undefined => attr(node, name)?.ints;
const floatAttr = (node: NodeMsg, name: string, def: number): number => {
  const a = attr(node, name);
  return a === undefined ? def : (a.f ?? def);
};
const strAttr = (node: NodeMsg, name: string): string => {
  const s = attr(node, name)?.s;
  return s === undefined || s === null ? '' : Buffer.from(s).toString('utf8');
};

/** A node's 2-d window attributes, or why they are not a symmetric 2-d window (undilated, unless a Conv's). */
function window(node: NodeMsg): {kernel?: Pair; stride: Pair; padding: Pair; dilation: Pair} | string {
  const kernel = intsAttr(node, 'kernel_shape');
  if (kernel !== undefined && kernel.length > 0 && kernel.length !== 2) return `${node.op_type} that is not 2-d`;
  const autoPad = strAttr(node, 'auto_pad');
  if (autoPad !== '' && autoPad !== 'NOTSET' && autoPad !== 'VALID') return `${node.op_type} with auto_pad ${autoPad}`;
  const dil = intsAttr(node, 'dilations') ?? [];
  if (dil.length > 0 && dil.length !== 2) return `${node.op_type} that is not 2-d`;
  if (dil.some((d) => d < 1)) return `${node.op_type} with dilations below 1`;
  if (dil.some((d) => d !== 1) && node.op_type !== 'Conv') return `${node.op_type} with dilation`;
  const strides = intsAttr(node, 'strides') ?? [];
  const pads = autoPad === 'VALID' ? [] : intsAttr(node, 'pads') ?? [];
  if (strides.length > 0 && strides.length !== 2) return `${node.op_type} that is not 2-d`;
  if (pads.length > 0 && (pads.length !== 4 || pads[0] !== pads[2] || pads[1] !== pads[3])) return `${node.op_type} with asymmetric padding`;
  const inRange = (values: readonly number[], min: number): boolean => values.every((v) => Number.isSafeInteger(v) && v >= min && v <= MAX_SIDE);
  if (!inRange(kernel ?? [], 1) || !inRange(strides, 1) || !inRange(dil, 1) || !inRange(pads, 0)) return `${node.op_type} with a kernel, stride, dilation or padding outside 0 to ${MAX_SIDE}`;
  return {
    ...(kernel !== undefined && kernel.length === 2 ? {kernel: [kernel[0], kernel[1]] as const} : {}),
    stride: strides.length === 2 ? [strides[0], strides[1]] : [1, 1],
    padding: pads.length === 4 ? [pads[0], pads[1]] : [0, 0],
    dilation: dil.length === 2 ? [dil[0], dil[1]] : [1, 1],
  };
}

/**
 * What makes a node one the importer does not map, from its op type and attributes alone (shapes come later), or
 * undefined. Every such node of a model is listed in one error.
 */
function unsupported(node: NodeMsg, used: ReadonlySet<string>): string | undefined {
  const domain = node.domain ?? '';
  if (domain !== '' && domain !== 'ai.onnx') return shown(`${domain}.${node.op_type}`, 40);
  if (!KNOWN.has(node.op_type) || node.attribute.some((a) => a.g)) return shown(node.op_type, 40);
  const usesOutput = (i: number): boolean => node.output[i] !== undefined && node.output[i] !== '' && used.has(node.output[i]);
  switch (node.op_type) {
    case 'Conv': {
      if (intAttr(node, 'group', 1) < 1) return 'Conv with group below 1';
      const w = window(node);
      return typeof w === 'string' ? w : undefined;
    }
    case 'MaxPool':
    case 'AveragePool': {
      const w = window(node);
      if (typeof w === 'string') return w;
      if (w.kernel === undefined) return `${node.op_type} without a 2-d kernel_shape`;
      if (node.op_type === 'MaxPool' && (intAttr(node, 'storage_order', 0) !== 0 || usesOutput(1))) return 'MaxPool with indices';
      return undefined;
    }
    case 'BatchNormalization':
      // A training-mode export's batch norm (training_mode 1) is the same layer; its running-statistics outputs
      // must feed nothing.
      if (usesOutput(1) || usesOutput(2)) return 'BatchNormalization whose running statistics feed other nodes';
      return undefined;
    case 'Flatten':
      return intAttr(node, 'axis', 1) === 1 ? undefined : 'Flatten on an axis other than 1';
    case 'Gemm':
      return intAttr(node, 'transA', 0) === 0 ? undefined : 'Gemm with transA';
    case 'Dropout':
      return usesOutput(1) ? 'Dropout with its mask used' : undefined;
    case 'Pad': {
      const mode = strAttr(node, 'mode');
      return mode === '' || mode === 'constant' ? undefined : `Pad with mode ${mode}`;
    }
    case 'ReduceMean': {
      const axes = intsAttr(node, 'axes');
      return axes === undefined || axes.length === 0 || [...axes].map((a) => (a < 0 ? a + 4 : a)).sort().join() === '2,3' ? undefined : 'ReduceMean over axes other than height and width';
    }
    default:
      return undefined;
  }
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
  const g = model.graph;
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

  const refused = new Map<string, string[]>();
  /** Nodes that read a refused node's output, by op type: what they would do cannot be judged without it. */
  const unjudged = new Map<string, number>();
  const refuse = (label: string, node: NodeMsg): void => {
    refused.set(label, [...(refused.get(label) ?? []), node.name || node.output[0] || '(unnamed)']);
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
  /** Dense layers made from a MatMul, awaiting the Add of their bias. */
  const matmuls = new Map<string, number>();
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
    return out;
  };

  for (const i of order) {
    const node = g.node[i];
    const ins = node.input.map((v) => (v === '' ? undefined : vals.get(v)));
    // Every node is judged, also past one refused: the error lists them all. What reads a refused node's output
    // is judged by its own op and attributes only (its input has no shape), and fold-only ops are then refused
    // as reading computed values.
    const label = unsupported(node, used) ?? (ins.some((v) => v?.t === 'poison') && FOLDS.has(node.op_type) && node.op_type !== 'Constant' && node.op_type !== 'Concat' ? `${node.op_type} of computed values` : undefined);
    if (label !== undefined) refuse(label, node);
    else if (ins.some((v) => v?.t === 'poison')) unjudged.set(node.op_type, (unjudged.get(node.op_type) ?? 0) + 1);
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
    const anyDyn = ins.some((v) => v?.t === 'dyn');
    if ((FOLDS.has(op) && !(op === 'Concat' && anyDyn)) || ((op === 'Reshape' || op === 'Add' || op === 'Mul' || op === 'Slice' || op === 'Transpose') && allConst)) {
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
    const viewed = ins[0]?.t === 'grouped' || ins[0]?.t === 'swapped' ? ins[0] : undefined;
    if (viewed !== undefined || ins.some((v) => v?.t === 'grouped' || v?.t === 'swapped')) {
      if (op === 'Transpose' && viewed?.t === 'grouped' && (intsAttr(node, 'perm') ?? []).join() === '0,2,1,3,4') {
        vals.set(node.output[0], {...viewed, t: 'swapped'});
      } else if (op === 'Reshape' && viewed?.t === 'swapped') {
        const to = node.input[1] !== undefined ? constOf(node.input[1]) : undefined;
        const [c, h, w] = viewed.src.shape;
        const v = to?.kind === 'int' ? to.values : [];
        const back = v.length === 4 && (v[0] === BATCH || v[0] === 0) && (v[1] === c || v[1] === -1) && v[2] === h && v[3] === w;
        if (back) push({kind: 'shuffle', name: uniqueName([modulePath(node.name), node.name, 'shuffle']), input: viewed.src.name, channels: c, groups: viewed.groups}, node, [viewed.src.shape]);
        else skip('Reshape or Transpose other than a channel shuffle');
      } else {
        skip('Reshape or Transpose other than a channel shuffle');
      }
      continue;
    }
    if (op === 'Concat' && ins.some((v) => v?.t !== 'dyn')) {
      skip('Concat of computed values with constants');
      continue;
    }
    const x = dynAt(0);
    if (x === undefined) {
      refuse(`${op} of constants only`, node);
      vals.set(node.output[0], {t: 'poison'});
      continue;
    }
    const path = modulePath(node.name);
    const named = (fromParam: string | undefined): string => uniqueName([fromParam, path, node.name, node.op_type.toLowerCase()]);

    try {
      switch (op) {
        case 'Conv': {
          const w = param(1, 'weight');
          if (w.c.dims.length !== 4) here(`has weight ${quoted(w.name)} of dims [${w.c.dims.join(', ')}], expected [out, in, kh, kw]`);
          const [out, perGroup, kh, kw] = w.c.dims;
          const groups = intAttr(node, 'group', 1);
          const cin = perGroup * groups;
          if (cin !== x.shape[0] || out % groups !== 0) here(`has group ${groups} and weight ${quoted(w.name)} of dims [${w.c.dims.join(', ')}] for an input of ${x.shape[0]} channels`);
          const win = window(node);
          if (typeof win === 'string') return here(win);
          if (win.kernel !== undefined && (win.kernel[0] !== kh || win.kernel[1] !== kw)) here(`has kernel_shape [${win.kernel.join(', ')}] but weight ${quoted(w.name)} of dims [${w.c.dims.join(', ')}]`);
          const bias = node.input[2] !== undefined && node.input[2] !== '' ? param(2, 'bias', [out]) : undefined;
          const name = named(stateName(w.name, 'weight'));
          own(`${name}.weight`, {shape: [out, perGroup, kh, kw], data: w.c.values});
          if (bias) own(`${name}.bias`, {shape: [out], data: bias.c.values});
          if (bias?.name.startsWith('onnx::')) foldedBias = true;
          const dilated = win.dilation[0] !== 1 || win.dilation[1] !== 1;
          push({kind: 'conv2d', name, input: x.name, inChannels: cin, outChannels: out, kernel: [kh, kw], stride: win.stride, padding: win.padding, bias: bias !== undefined, constrained: false, ...(groups !== 1 ? {groups} : {}), ...(dilated ? {dilation: win.dilation} : {})}, node, [x.shape]);
          break;
        }
        case 'BatchNormalization': {
          const channels = x.shape[0];
          const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((k) => param(k, ['scale', 'bias', 'mean', 'variance'][k - 1], [channels]));
          const name = named(stateName(node.input[1], 'weight') ?? stateName(node.input[3], 'running_mean'));
          own(`${name}.weight`, {shape: [channels], data: gamma.c.values});
          own(`${name}.bias`, {shape: [channels], data: beta.c.values});
          own(`${name}.running_mean`, {shape: [channels], data: mean.c.values});
          own(`${name}.running_var`, {shape: [channels], data: variance.c.values});
          // ONNX's momentum weighs the running value; PyTorch's the batch's. Both are float32 in a file: rounded back.
          const eps = Number(floatAttr(node, 'epsilon', 1e-5).toPrecision(6));
          const momentum = Number((1 - floatAttr(node, 'momentum', 0.9)).toPrecision(6));
          if (!(eps > 0 && eps <= 1) || !(momentum >= 0 && momentum <= 1)) here(`has epsilon ${eps} or momentum ${1 - momentum} outside (0, 1]`);
          push({kind: 'batchnorm', name, input: x.name, channels, eps, momentum}, node, [x.shape]);
          break;
        }
        case 'Relu':
          push({kind: 'relu', name: named(undefined), input: x.name}, node, [x.shape]);
          break;
        case 'Dropout': {
          // The module's dropout: trained with masks, the identity at inference. Opset 12+ gives the ratio as an
          // input, earlier ones as an attribute; the training_mode input only says how the file itself runs.
          const given = node.input[1] !== undefined && node.input[1] !== '' ? constOf(node.input[1]) : undefined;
          if (node.input[1] !== undefined && node.input[1] !== '' && (given?.kind !== 'float' || given.values.length !== 1)) here(`takes its ratio from ${quoted(node.input[1])}, which is not one constant number`);
          const p = given?.kind === 'float' ? given.values[0] : floatAttr(node, 'ratio', 0.5);
          if (!(p >= 0 && p < 1)) here(`has ratio ${p}, expected one in [0, 1)`);
          push({kind: 'dropout', name: named(undefined), input: x.name, p: Number(p.toPrecision(6))}, node, [x.shape]);
          break;
        }
        case 'MaxPool':
        case 'AveragePool': {
          const win = window(node);
          if (typeof win === 'string' || win.kernel === undefined) return here('has no 2-d kernel_shape');
          const pool = {name: named(undefined), input: x.name, kernel: win.kernel, stride: win.stride, padding: win.padding, ...(intAttr(node, 'ceil_mode', 0) !== 0 ? {ceil: true} : {})};
          // Without padding, counting it or not is the same (PyTorch clips a ceil-mode window to the padded input).
          const excludePad = op === 'AveragePool' && intAttr(node, 'count_include_pad', 0) === 0 && (win.padding[0] > 0 || win.padding[1] > 0);
          push(op === 'MaxPool' ? {kind: 'maxpool', ...pool} : {kind: 'avgpool', ...pool, ...(excludePad ? {excludePad: true} : {})}, node, [x.shape]);
          break;
        }
        case 'GlobalAveragePool':
          push({kind: 'globalavgpool', name: named(undefined), input: x.name}, node, [x.shape]);
          break;
        case 'Flatten':
          push({kind: 'flatten', name: named(undefined), input: x.name}, node, [x.shape]);
          break;
        case 'Reshape': {
          const to = node.input[1] !== undefined ? constOf(node.input[1]) : undefined;
          const features = x.shape.reduce((a, b) => a * b, 1);
          const v = to?.kind === 'int' ? to.values : [];
          const zeroCopies = intAttr(node, 'allowzero', 0) === 0;
          const first = v[0] === BATCH || (v[0] === 0 && zeroCopies);
          const flat = v.length === 2 && ((first && (v[1] === -1 || v[1] === features)) || (v[0] === -1 && v[1] === features));
          const [c, h, w] = x.shape;
          const groups = v[1];
          if (!flat && x.shape.length === 3 && v.length === 5 && first && typeof groups === 'number' && groups >= 1 && c % groups === 0 && (v[2] === c / groups || v[2] === -1) && v[3] === h && v[4] === w) {
            vals.set(node.output[0], {t: 'grouped', src: x, groups});
            break;
          }
          if (!flat) {
            refuse(to === undefined ? 'Reshape to a computed shape' : 'Reshape other than to [N, -1]', node);
            vals.set(node.output[0], {t: 'poison'});
            break;
          }
          if (x.shape.length === 1) vals.set(node.output[0], x);
          else push({kind: 'flatten', name: named(undefined), input: x.name}, node, [x.shape]);
          break;
        }
        case 'Gemm':
        case 'MatMul': {
          if (x.shape.length !== 1) throw new Unmapped(`${op} on a value with more than one dimension per image (cbp maps ${op} on [N, features])`);
          if (dynAt(1) !== undefined) throw new Unmapped(`${op} of two computed values`);
          const features = x.shape[0];
          const w = param(1, 'weight');
          const transB = op === 'Gemm' && intAttr(node, 'transB', 0) === 1;
          if (w.c.dims.length !== 2 || w.c.dims[transB ? 1 : 0] !== features) {
            here(`has weight ${quoted(w.name)} of dims [${w.c.dims.join(', ')}] for ${features} input features${transB ? ' (transB)' : ''}`);
          }
          const out = w.c.dims[transB ? 0 : 1];
          // PyTorch's layout [out, in]: Gemm with transB is already in it; otherwise transposed.
          const alpha = op === 'Gemm' ? floatAttr(node, 'alpha', 1) : 1;
          let data = w.c.values;
          if (!transB || alpha !== 1) {
            data = new Float32Array(out * features);
            for (let o = 0; o < out; o++) for (let f = 0; f < features; f++) data[o * features + f] = Math.fround(alpha * (transB ? w.c.values[o * features + f] : w.c.values[f * out + o]));
          }
          let bias: Float32Array | undefined;
          if (op === 'Gemm' && node.input[2] !== undefined && node.input[2] !== '') {
            const c = param(2, 'bias');
            const n = c.c.values.length;
            if (n !== out && n !== 1) here(`has bias ${quoted(c.name)} of dims [${c.c.dims.join(', ')}], expected [${out}]`);
            const beta = floatAttr(node, 'beta', 1);
            bias = Float32Array.from({length: out}, (_, k) => Math.fround(beta * c.c.values[n === 1 ? 0 : k]));
          }
          const name = named(stateName(w.name, 'weight'));
          own(`${name}.weight`, {shape: [out, features], data});
          if (bias) own(`${name}.bias`, {shape: [out], data: bias});
          push({kind: 'dense', name, input: x.name, inFeatures: features, outFeatures: out, bias: bias !== undefined, constrained: false}, node, [x.shape]);
          if (op === 'MatMul') matmuls.set(node.output[0], nodes.length - 1);
          break;
        }
        case 'Add': {
          const y = dynAt(1);
          if (y !== undefined) {
            push({kind: 'add', name: named(undefined), inputs: [x.name, y.name]}, node, [x.shape, y.shape]);
            break;
          }
          // A MatMul's bias (torch.nn.Linear on inputs of rank 3 and more): joined to its dense layer.
          const at = matmuls.get(node.input[0]);
          const dense = at === undefined ? undefined : nodes[at];
          if (dense?.kind !== 'dense' || consumers.get(node.input[0]) !== 1) {
            refuse('Add of a constant (other than a MatMul\'s bias)', node);
            vals.set(node.output[0], {t: 'poison'});
            break;
          }
          const c = param(1, 'bias');
          if (c.c.values.length !== dense.outFeatures) here(`adds ${quoted(c.name)} of dims [${c.c.dims.join(', ')}] to ${dense.outFeatures} features`);
          nodes[at ?? 0] = {...dense, bias: true};
          own(`${dense.name}.bias`, {shape: [dense.outFeatures], data: c.c.values});
          vals.set(node.output[0], x);
          break;
        }
        case 'Sigmoid':
          push({kind: 'sigmoid', name: named(undefined), input: x.name}, node, [x.shape]);
          break;
        case 'HardSigmoid':
          push({kind: 'hardsigmoid', name: named(undefined), input: x.name, alpha: floatAttr(node, 'alpha', 0.2), beta: floatAttr(node, 'beta', 0.5)}, node, [x.shape]);
          break;
        case 'HardSwish':
          push({kind: 'hardswish', name: named(undefined), input: x.name}, node, [x.shape]);
          break;
        case 'LeakyRelu':
          push({kind: 'leakyrelu', name: named(undefined), input: x.name, alpha: floatAttr(node, 'alpha', 0.01)}, node, [x.shape]);
          break;
        case 'Clip': {
          // Opset 11 on: the bounds are optional inputs (ReLU6: Constant 0 and 6).
          const bounds = [1, 2].map((k) => {
            const v = node.input[k];
            if (v === undefined || v === '') return undefined;
            const c = constOf(v);
            return c?.kind === 'float' && c.values.length === 1 ? c.values[0] : null;
          });
          const [min, max] = bounds;
          if (min === null || max === null) {
            skip('Clip with bounds that are not constant numbers');
            break;
          }
          push({kind: 'clip', name: named(undefined), input: x.name, ...(min !== undefined ? {min} : {}), ...(max !== undefined ? {max} : {})}, node, [x.shape]);
          break;
        }
        case 'Mul': {
          const y = dynAt(1);
          if (y === undefined) {
            skip('Mul by a constant');
            break;
          }
          const node2 = {kind: 'mul', name: named(undefined), inputs: [x.name, y.name]} as const;
          if (kindOf(node2).check(node2, [x.shape, y.shape]) !== undefined) {
            skip('Mul of values that do not broadcast per channel (ranks or axes differ)');
            break;
          }
          push(node2, node, [x.shape, y.shape]);
          break;
        }
        case 'Concat': {
          const parts = ins.map((v) => (v?.t === 'dyn' ? v : undefined));
          const axis = intAttr(node, 'axis', 0);
          // Every input is computed (checked above the switch).
          if ((axis < 0 ? axis + x.shape.length + 1 : axis) !== 1) skip('Concat on an axis other than 1 (the channels)');
          else if (parts.length === 1) vals.set(node.output[0], x);
          else {
            const dyn = parts.filter((v): v is Val & {t: 'dyn'} => v !== undefined);
            push({kind: 'concat', name: named(undefined), inputs: dyn.map((v) => v.name)}, node, dyn.map((v) => v.shape));
          }
          break;
        }
        case 'Pad': {
          const pads = node.input[1] !== undefined && node.input[1] !== '' ? constOf(node.input[1]) : undefined;
          const value = node.input[2] !== undefined && node.input[2] !== '' ? constOf(node.input[2]) : undefined;
          const p = pads?.kind === 'int' ? pads.values : [];
          if (node.input[3] !== undefined && node.input[3] !== '') skip('Pad with axes');
          else if (value !== undefined && (value.kind !== 'float' || value.values.some((v) => v !== 0))) skip('Pad with a value other than 0');
          else if (p.some((v) => typeof v === 'number' && (!Number.isSafeInteger(v) || v > MAX_SIDE))) skip(`Pad by more than ${MAX_SIDE}`);
          else if (x.shape.length !== 3 || p.length !== 8 || p.some((v) => typeof v !== 'number' || v < 0) || p[0] !== 0 || p[1] !== 0 || p[4] !== 0 || p[5] !== 0) {
            skip('Pad other than constant zeros around the height and width');
          } else if (p.every((v) => v === 0)) vals.set(node.output[0], x);
          else push({kind: 'pad', name: named(undefined), input: x.name, begin: [Number(p[2]), Number(p[3])], end: [Number(p[6]), Number(p[7])]}, node, [x.shape]);
          break;
        }
        case 'ReduceMean': {
          // Opset 18 moved the axes to an input; either must say height and width.
          const given = node.input[1] !== undefined && node.input[1] !== '' ? constOf(node.input[1]) : undefined;
          const axes = given?.kind === 'int' ? given.values : intsAttr(node, 'axes');
          const spatial = axes !== undefined && axes.map((a) => (typeof a === 'number' && a < 0 ? a + 4 : a)).sort().join() === '2,3';
          if (x.shape.length !== 3 || !spatial) skip('ReduceMean over axes other than height and width');
          else push({kind: 'reducemean', name: named(undefined), input: x.name, keepdims: intAttr(node, 'keepdims', 1) !== 0}, node, [x.shape]);
          break;
        }
        case 'Slice': {
          const [starts, ends, axes, steps] = [1, 2, 3, 4].map((k) => (node.input[k] !== undefined && node.input[k] !== '' ? constOf(node.input[k]) : undefined));
          const rank = x.shape.length + 1;
          const one = (c: Const | undefined): number | undefined => (c?.kind === 'int' && c.values.length === 1 && typeof c.values[0] === 'number' ? c.values[0] : undefined);
          const [s0, e0, a0] = [one(starts), one(ends), axes === undefined ? 0 : one(axes)];
          const channels = x.shape[0];
          if (s0 === undefined || e0 === undefined || a0 === undefined || (a0 < 0 ? a0 + rank : a0) !== 1 || (steps !== undefined && one(steps) !== 1)) {
            skip('Slice other than of channels (axis 1, step 1)');
            break;
          }
          const clamp = (v: number): number => Math.min(channels, Math.max(0, v < 0 ? v + channels : v));
          const [start, end] = [clamp(s0), clamp(e0)];
          if (start >= end) here(`takes channels [${s0}, ${e0}) of ${channels}: none`);
          if (start === 0 && end === channels) vals.set(node.output[0], x);
          else push({kind: 'slice', name: named(undefined), input: x.name, start, end}, node, [x.shape]);
          break;
        }
        case 'Split': {
          const rank = x.shape.length + 1;
          const axis = intAttr(node, 'axis', 0);
          if ((axis < 0 ? axis + rank : axis) !== 1) {
            skip('Split on an axis other than 1 (the channels)');
            break;
          }
          const channels = x.shape[0];
          const given = node.input[1] !== undefined && node.input[1] !== '' ? constOf(node.input[1]) : undefined;
          const parts = node.output.length;
          // The sizes: the split input (opset 13 on) or attribute, else equal parts (opset 18: the last one smaller).
          const listed = given?.kind === 'int' ? given.values : intsAttr(node, 'split');
          const each = Math.ceil(channels / parts);
          const sizes = listed ?? Array.from({length: parts}, (_, i) => Math.max(0, Math.min(each, channels - i * each)));
          if (sizes.length !== parts || sizes.some((v) => typeof v !== 'number' || v < 0) || sizes.reduce<number>((a, b) => a + Number(b), 0) !== channels) {
            here(`splits ${channels} channels into parts [${sizes.join(', ')}]`);
          }
          let start = 0;
          sizes.forEach((size, i) => {
            const end = start + Number(size);
            const out = node.output[i];
            if (out !== '' && used.has(out) && end > start) {
              const slice = {kind: 'slice', name: uniqueName([path, node.name, 'split']), input: x.name, start, end} as const;
              const why = kindOf(slice).check(slice, [x.shape]);
              if (why !== undefined) here(why);
              nodes.push(slice);
              sources.set(slice.name, node.name);
              vals.set(out, {t: 'dyn', name: slice.name, shape: kindOf(slice).shape(slice, [x.shape])});
            }
            start = end;
          });
          break;
        }
        case 'Transpose':
          skip('Transpose other than in a channel shuffle');
          break;
        default:
          skip(shown(op, 40));
      }
    } catch (err) {
      if (!(err instanceof Unmapped)) throw err;
      skip(err.label);
    }
  }

  if (refused.size > 0) fail(`cannot import this model; ${refusal(refused, unjudged)}; nothing was written`, 'UNSUPPORTED_ONNX');
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
  return {spec, weights, sources, warnings, needed, input: input.name, ...(batchDim !== undefined && batchDim > 0 ? {batch: batchDim} : {})};
}

/** The most characters the list of unsupported nodes takes in a message; the groups past it are counted. */
const MAX_REFUSAL = 1500;

/**
 * Every unsupported node in one message of bounded length: grouped by what is unsupported, a few names per group
 * with the count; then the nodes that read their outputs, counted by op type; then what cbp maps.
 */
function refusal(refused: ReadonlyMap<string, readonly string[]>, unjudged: ReadonlyMap<string, number>): string {
  const groups = [...refused].map(([label, names]) => `${label} (${names.length} node${names.length > 1 ? 's' : ''}: ${listed(names, 3, (n) => shown(String(n), 60))})`);
  let text = '';
  let shownGroups = 0;
  for (const group of groups) {
    if (shownGroups > 0 && text.length + group.length > MAX_REFUSAL) break;
    text += `${shownGroups > 0 ? '; ' : ''}${group}`;
    shownGroups++;
  }
  if (shownGroups < groups.length) text += `; and ${groups.length - shownGroups} more kinds of unsupported node`;
  const after = [...unjudged].map(([op, n]) => `${shown(op, 40)} ×${n}`);
  const reading = after.length === 0 ? '' : `; not judged, as they read values of those nodes: ${listed(after, 12, String)}`;
  return `unsupported: ${text}${reading}. cbp maps ${MAPPED_OPS.join(', ')} and folds constant shape arithmetic (${FOLD_OPS.join(', ')})`;
}

/**
 * CBP's choice of constrained layers, as the reference makes it: every convolution and dense layer except the
 * first weight layer and the last (the first conv and the classifier), and except those --keep-float names.
 */
function constrain(nodes: readonly SpecNode[], sources: ReadonlyMap<string, string>, keepFloat: readonly string[]): SpecNode[] {
  const weighted = nodes.filter(isWeightNode);
  const patterns = keepFloat.map((p) => ({p, re: new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)}));
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
