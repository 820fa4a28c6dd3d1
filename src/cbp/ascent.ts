import {constraintValues} from './constraint-arrays';

/** Adam's constants as PyTorch's defaults, which the reference's multiplier optimiser uses. */
export const ADAM = {beta1: 0.9, beta2: 0.999, eps: 1e-8} as const;

/** One layer's multipliers and their Adam moments, as arrays (PyTorch layout, one value per weight). */
export interface LambdaArrays {
  readonly lambda: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

/**
 * One Adam step of gradient ascent on Σ λ⊙c(w) with respect to λ (the gradient is c(w)), in place, in float32 as the
 * tfjs engine's ascendLambda computes it. `step` is the 1-based count of ascent steps taken, including this one.
 */
export function ascendLambdaArrays(state: LambdaArrays, w: Float32Array, scale: number, levels: readonly number[], ucs: number, lr: number, step: number): void {
  const f = Math.fround;
  const c = constraintValues(w, scale, levels, ucs);
  const b1 = f(ADAM.beta1);
  const b2 = f(ADAM.beta2);
  const a1 = f(1 - ADAM.beta1);
  const a2 = f(1 - ADAM.beta2);
  const sq2 = f(Math.sqrt(1 - ADAM.beta2 ** step));
  const rate = f(lr / (1 - ADAM.beta1 ** step));
  const eps = f(ADAM.eps);
  const {lambda, m, v} = state;
  for (let i = 0; i < c.length; i++) {
    const g = -c[i];
    const mi = f(f(m[i] * b1) + f(g * a1));
    const vi = f(f(v[i] * b2) + f(f(g * g) * a2));
    const denom = f(f(f(Math.sqrt(vi)) / sq2) + eps);
    lambda[i] = f(lambda[i] - f(f(mi / denom) * rate));
    m[i] = mi;
    v[i] = vi;
  }
}
