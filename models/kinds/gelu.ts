import type {KindDef, NodeBase, OnnxAhead, OnnxNode, Ops} from './kind';

/**
 * PyTorch's GELU, x·Φ(x) = ½·x·(1 + erf(x/√2)), or with approximate='tanh' ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 * ONNX has no Gelu before opset 20: torch 1.13 at opset 13 writes it as nodes (`ERF_FORM`, `TANH_FORM`), which the
 * importer maps back onto one node, and the export and the training graph write the same nodes. The gradient is
 * PyTorch's gelu_backward: gy·(½(1 + erf(x/√2)) + x·φ(x)) with φ(x) = e^(−x²/2)/√(2π); for the tanh form, with
 * t = tanh(√(2/π)·(x + 0.044715·x³)), gy·(½(1 + t) + ½x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)).
 */
export interface GeluNode extends NodeBase {
  readonly kind: 'gelu';
  readonly input: string;
  /** approximate='tanh' (else 'none', the erf form). */
  readonly tanh: boolean;
}

/** The constants as the float32 values torch writes (and the export writes back). */
const SQRT2 = Math.fround(Math.SQRT2);
const BETA = Math.fround(Math.sqrt(2 / Math.PI));
const KAPPA = Math.fround(0.044715);
const KAPPA3 = Math.fround(3 * 0.044715);
const INV_SQRT_2PI = Math.fround(1 / Math.sqrt(2 * Math.PI));

const ERF_FORM = 'x/√2 → Erf → +1 → ·x → ·0.5';
const TANH_FORM = 'x·x → ·x → ·0.044715 → +x → ·√(2/π) → Tanh → +1 → ·x → ·0.5';

/** The forward nodes as torch writes them, but the last Mul (its inputs returned), and the values the backward reads. */
function forward(o: Ops, x: string, tanh: boolean): {last: [string, string]; onePlus: string; t?: string; square?: string} {
  if (!tanh) {
    const onePlus = o.op('Add', [o.op('Erf', [o.op('Div', [x, o.f32(SQRT2)])]), o.f32(1)]);
    return {last: [o.op('Mul', [x, onePlus]), o.f32(0.5)], onePlus};
  }
  const square = o.op('Mul', [x, x]);
  const cubic = o.op('Mul', [o.f32(KAPPA), o.op('Mul', [x, square])]);
  const t = o.op('Tanh', [o.op('Mul', [o.f32(BETA), o.op('Add', [x, cubic])])]);
  const onePlus = o.op('Add', [o.f32(1), t]);
  return {last: [o.f32(0.5), o.op('Mul', [x, onePlus])], onePlus, t, square};
}

/**
 * One step of a pattern: a node of `op` reading the value held at `from` (and `operand`: the pattern's input x, or
 * a constant) takes it to `to`; `gelu` and `gelu tanh` end it.
 */
interface Step {
  readonly from: string;
  readonly op: string;
  readonly operand?: 'x' | number;
  readonly to: string;
}
const STEPS: readonly Step[] = [
  // Started by Div(x, √2).
  {from: 'div', op: 'Erf', to: 'erf'},
  {from: 'erf', op: 'Add', operand: 1, to: 'erf+1'},
  {from: 'erf+1', op: 'Mul', operand: 'x', to: 'erf·x'},
  {from: 'erf·x', op: 'Mul', operand: 0.5, to: 'gelu'},
  // Started by Mul(x, x).
  {from: 'square', op: 'Mul', operand: 'x', to: 'cube'},
  {from: 'cube', op: 'Mul', operand: KAPPA, to: 'kappa'},
  {from: 'kappa', op: 'Add', operand: 'x', to: 'inner'},
  {from: 'inner', op: 'Mul', operand: BETA, to: 'scaled'},
  {from: 'scaled', op: 'Tanh', to: 'tanh'},
  {from: 'tanh', op: 'Add', operand: 1, to: 'tanh+1'},
  {from: 'tanh+1', op: 'Mul', operand: 'x', to: 'tanh·x'},
  {from: 'tanh·x', op: 'Mul', operand: 0.5, to: 'gelu tanh'},
];

/** Whether Mul(x, x) starts the tanh form: the nodes after it, each the only reader of the one before, lead to its Tanh. */
function startsTanhForm(o: OnnxNode<GeluNode>): boolean {
  const x = o.inputName(0);
  const only = (nodes: readonly OnnxAhead[] | undefined): OnnxAhead | undefined => (nodes?.length === 1 ? nodes[0] : undefined);
  const cube = only(o.readers());
  const kappa = cube?.op === 'Mul' && cube.inputNames.includes(x) ? only(cube.readers()) : undefined;
  const inner = kappa?.op === 'Mul' ? only(kappa.readers()) : undefined;
  const scaled = inner?.op === 'Add' && inner.inputNames.includes(x) ? only(inner.readers()) : undefined;
  const t = scaled?.op === 'Mul' ? only(scaled.readers()) : undefined;
  return t?.op === 'Tanh';
}

/** The next step of a pattern this kind holds, on a node that reads the held value; returns why not when it is none. */
function next(o: OnnxNode<GeluNode>): string | undefined {
  const k = o.held(0) !== undefined ? 0 : 1;
  const held = o.held(k);
  const step = STEPS.find((s) => s.from === held?.step && s.op === o.op);
  const form = ['div', 'erf', 'erf+1', 'erf·x'].includes(held?.step ?? '') ? ERF_FORM : TANH_FORM;
  const why = `${o.op} reading a value partway through GELU (${form}) other than as its next step`;
  if (held === undefined || step === undefined) return why;
  const x = held.value;
  if (step.operand === undefined) {
    if (o.inputs !== 1) return why;
  } else {
    const other = 1 - k;
    if (o.inputs !== 2) return why;
    if (step.operand === 'x') {
      if (o.computed(other)?.name !== x.name) return why;
    } else {
      const c = o.constant(other);
      if (c?.kind !== 'float' || c.values.length !== 1 || c.values[0] !== step.operand || c.dims.length > x.shape.length + 1) return why;
    }
  }
  if (step.to === 'gelu' || step.to === 'gelu tanh') {
    o.emit({kind: 'gelu', name: o.layerName(undefined, 'gelu'), input: x.name, tanh: step.to === 'gelu tanh'}, [x.shape]);
  } else {
    o.hold(step.to, x, 0);
  }
  return undefined;
}

export const gelu: KindDef<GeluNode> = {
  kind: 'gelu',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: () => undefined,
  read: (r) => ({kind: 'gelu', name: r.name, input: r.value('input'), tanh: r.flag('tanh')}),
  params: () => [],
  onnx(n, g) {
    g.emit(n, 'Mul', forward(g.ops, g.value(n.input), n.tanh).last);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const f = forward(o, x, n.tanh);
    o.op('Mul', f.last, {}, n.name);
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      let slope: string;
      if (f.t === undefined || f.square === undefined) {
        // PyTorch's GeluBackward (erf): cdf + x·pdf, cdf = ½(1 + erf(x/√2)), pdf = e^(−x²/2)/√(2π).
        const pdf = o.op('Mul', [o.op('Exp', [o.op('Mul', [o.op('Mul', [x, x]), o.f32(-0.5)])]), o.f32(INV_SQRT_2PI)]);
        slope = o.op('Add', [o.op('Mul', [f.onePlus, o.f32(0.5)]), o.op('Mul', [x, pdf])]);
      } else {
        // PyTorch's GeluBackward (tanh): ½(1 + t) + ½x·(1 − t²)·√(2/π)(1 + 3κx²).
        const right = o.op('Mul', [o.op('Mul', [o.f32(0.5), x]), o.op('Sub', [o.f32(1), o.op('Mul', [f.t, f.t])])]);
        const inner = o.op('Mul', [o.f32(BETA), o.op('Add', [o.f32(1), o.op('Mul', [o.f32(KAPPA3), f.square])])]);
        slope = o.op('Add', [o.op('Mul', [o.f32(0.5), f.onePlus]), o.op('Mul', [right, inner])]);
      }
      g.accumulate(x, o.op('Mul', [gy, slope]));
    });
  },
  fromOnnx: {
    // Div starts the erf form, Mul(x, x) the tanh form; a node that reads a value partway through either is this
    // kind's, whatever its op. Erf and Tanh by themselves, and every other Mul, are nothing to it.
    ops: ['Div', 'Erf', 'Mul', 'Tanh'],
    map(o) {
      if (o.holding) return next(o);
      if (o.op === 'Div') {
        const x = o.computed(0);
        const d = o.constant(1);
        if (x === undefined || d?.kind !== 'float' || d.values.length !== 1 || d.values[0] !== SQRT2 || d.dims.length > x.shape.length + 1) {
          return `Div of a computed value other than GELU's x/√2 (${ERF_FORM})`;
        }
        o.hold('div', x, 0);
        return undefined;
      }
      const x = o.computed(0);
      if (o.op !== 'Mul' || x === undefined || o.inputName(0) !== o.inputName(1) || !startsTanhForm(o)) return '';
      o.hold('square', x, 0);
      return undefined;
    },
  },
};
