import {constraintAt, constraintTable} from './constraint-arrays';
import {quantizeOne, quantizer} from './levels';
import {ruleConstants, updateAt, type UpdateRule} from './update';

/**
 * One pass over a constrained layer that does, per weight, what three passes would (constraintOnArrays,
 * updateWeights, quantizeArray) — with the same functions (constraintAt, updateAt, quantizeOne), in the same order:
 *   1. c(w) and λ⊙dc/dw at the latent weight before the update (Σ λ⊙c(w) is returned);
 *   2. the reference's update with that gradient added (clip, decay, momentum, clamp);
 *   3. the quantized value of the updated weight, written to `quantized` for the next forward pass.
 * On ResNet-18's 11 M constrained weights this is what the CPU does between two ONNX Runtime runs, so it is on
 * the critical path of every step; one pass reads each array once.
 */
export interface FusedLayer {
  readonly scale: number;
  readonly levels: readonly number[];
  /** λ, or undefined when the run has no constraint term (STE): then only steps 2 and 3. */
  readonly lambda: Float32Array | undefined;
  readonly quantized: Float32Array;
}

/**
 * Updates `w` and `momentum` in place over [from, to) and writes the quantized new weights; returns Σ λ⊙c(w) over
 * that range at the weights before the update (0 without λ).
 */
export function fusedUpdate(w: Float32Array, grad: Float32Array, momentum: Float32Array, rule: UpdateRule, layer: FusedLayer, ucs: number, from = 0, to = w.length): number {
  const n = w.length;
  if (grad.length !== n || momentum.length !== n || layer.quantized.length !== n || (layer.lambda !== undefined && layer.lambda.length !== n)) {
    throw new Error(`internal: fused update of ${n} weights with ${grad.length} gradients, ${momentum.length} momenta`);
  }
  const f = Math.fround;
  const t = constraintTable(layer.scale, layer.levels, ucs);
  const q = quantizer(layer.scale, layer.levels);
  const c = ruleConstants(rule);
  const lambda = layer.lambda;
  const out = layer.quantized;
  const at = {c: 0, slope: 1};
  let value = 0;
  for (let i = from; i < to; i++) {
    let g = grad[i];
    if (lambda !== undefined) {
      constraintAt(w[i], t, at);
      const l = lambda[i];
      value += f(at.c * l);
      g = f(g + f(at.slope * l));
    }
    out[i] = quantizeOne(updateAt(w, momentum, i, g, c), q);
  }
  return value;
}
