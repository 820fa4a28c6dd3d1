import {MAX_AXES, MAX_WIDTH, type KindDef, type NodeBase} from './kind';

/** The names a layer scale's parameter has in its module: torchvision's CNBlock, timm's LayerScale, any other. */
export const LAYER_SCALE_NAMES = ['layer_scale', 'gamma', 'weight'] as const;
export type LayerScaleName = (typeof LAYER_SCALE_NAMES)[number];

/**
 * x · s, a learned tensor s that broadcasts over the value (numpy's rule, aligned on the last axis): ConvNeXt's layer
 * scale (`self.layer_scale * self.block(x)`, s of [C, 1, 1] on an image [C, H, W]), timm's LayerScale (`x * self.gamma`,
 * s of [C] on tokens [T, C] or a channels-last [H, W, C]). s trains as a float parameter of role `layer_scale`: never
 * constrained, not decayed (a role of its own rather than `embedding`: it starts at torchvision's 1e-6 when fresh, not
 * at 0, which would stop the block's gradient; the ConvNeXt authors' recipe leaves its `gamma` [C] out of weight decay,
 * as timm does every one-dimensional parameter). The gradients are PyTorch's
 * mul backward: gy · s for x, and x · gy summed over the axes s is broadcast along (the batch among them) for s.
 */
export interface LayerScaleNode extends NodeBase {
  readonly kind: 'layerscale';
  readonly input: string;
  /** s's shape as PyTorch stores it: [C, 1, 1], [C], or any that broadcasts onto the input (a leading 1 for the batch). */
  readonly shape: readonly number[];
  /** The parameter's name in its module: its state_dict key is `${name}.${param}`. */
  readonly param: LayerScaleName;
}

/**
 * Whether a constant input's name is a module's parameter: torch.onnx.export names an initializer by its state_dict key
 * (`features.1.0.layer_scale`, or an Identity of that name where it shares one tensor between equal parameters); a
 * constant the model computes or writes in its code is a Constant node's output (`/features/…/Constant_output_0`) or
 * an anonymous `onnx::Mul_12`.
 */
export const isModuleParameter = (name: string): boolean => /^[A-Za-z_]\w*(\.\w+)*$/.test(name);

/** Why s of shape `p` does not broadcast onto a value of per-sample shape `x` without growing it, or undefined. */
function notBroadcast(p: readonly number[], x: readonly number[]): string | undefined {
  const fits = p.length <= x.length + 1 && p.every((d, i) => {
    const j = x.length - p.length + i;
    return d === 1 || (j >= 0 && d === x[j]);
  });
  return fits ? undefined : `scales by a tensor of shape [${p.join(', ')}] that does not broadcast onto a value of shape [${x.join(', ')}] (each axis, from the last, equal or 1)`;
}

/** The axes of [N, ...x] along which s (of shape p) is broadcast: the batch, and every axis where s has 1 or none. */
function broadcastAxes(p: readonly number[], x: readonly number[]): number[] {
  const full = [0, ...x];
  return full.flatMap((d, j) => {
    const i = p.length - full.length + j;
    return j === 0 || i < 0 || (p[i] === 1 && d !== 1) ? [j] : [];
  });
}

export const layerscale: KindDef<LayerScaleNode> = {
  kind: 'layerscale',
  inputs: (n) => [n.input],
  shape: (_n, [x]) => x,
  check: (n, [x]) => notBroadcast(n.shape, x),
  read: (r) => ({
    kind: 'layerscale',
    name: r.name,
    input: r.value('input'),
    shape: r.ints('shape', 1, MAX_WIDTH * 4096, [1, MAX_AXES + 1]),
    param: r.word('param', LAYER_SCALE_NAMES),
  }),
  params: (n) => [{suffix: n.param, role: 'layer_scale', shape: n.shape, trainable: true}],
  onnx: (n, g) => g.emit(n, 'Mul', [g.param(`${n.name}.${n.param}`), g.value(n.input)]),
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const s = g.param(`${n.name}.${n.param}`, n.shape);
    o.op('Mul', [s, x], {}, n.name);
    const axes = broadcastAxes(n.shape, g.shape(n.input));
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined) return;
      if (g.needsGrad(n.input)) g.accumulate(x, o.op('Mul', [gy, s]));
      // Summed keeping the axes ([1, C, 1, 1] for [C, 1, 1]), then s's own shape (same size).
      const sum = o.op('ReduceSum', [o.op('Mul', [x, gy]), o.i64(axes)], {keepdims: 1});
      g.accumulate(s, o.op('Reshape', [sum, o.i64(n.shape)]));
    });
  },
  fromOnnx: {
    // After mul (two computed values), before scale (a constant scalar): a Mul by a module's parameter.
    ops: ['Mul'],
    map(o) {
      const k = o.computed(0) !== undefined ? 0 : 1;
      const x = o.computed(k);
      const c = o.constant(1 - k);
      const name = o.inputName(1 - k);
      if (x === undefined || c?.kind !== 'float' || !isModuleParameter(name)) return '';
      const p = o.param(1 - k, 'layer scale');
      const why = notBroadcast(p.dims, x.shape);
      if (why !== undefined) return 'Mul by a parameter that does not broadcast onto the value (each axis, from the last, equal or 1)';
      const suffix = LAYER_SCALE_NAMES.find((s) => o.stateName(1 - k, s) !== undefined) ?? 'weight';
      const layer = o.layerName(o.stateName(1 - k, suffix) ?? name, 'layerscale');
      o.tensor(`${layer}.${suffix}`, p.dims, p.values);
      o.emit({kind: 'layerscale', name: layer, input: x.name, shape: p.dims, param: suffix}, [x.shape]);
      return undefined;
    },
  },
};
