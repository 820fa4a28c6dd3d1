/**
 * A constrained layer's scale s as CBP initialises it: the mean |w| of the layer's starting weights, set once
 * (the reference's main.py does it after loading the weights) and fixed during training.
 */
export function initialScale(weights: Float32Array): number {
  let s = 0;
  for (let i = 0; i < weights.length; i++) s += Math.abs(weights[i]);
  return weights.length > 0 ? s / weights.length : 0;
}
