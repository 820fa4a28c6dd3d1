/**
 * A constrained layer's scale s as CBP initialises it: the mean |w| of the layer's starting weights, set once
 * (the reference's main.py does it after loading the weights) and fixed during training.
 *
 * One rule for a layer whose starting weights are all zero (or that has none), where the mean is 0 and the
 * reference would divide by zero: s = 1, the bound CBP clamps latent weights to, so the levels ±s span the whole
 * latent range and training can move the weights onto them. Every place that sets a scale (fresh weights, --init,
 * the PyTorch importer, the engines) calls this function.
 */
export function initialScale(weights: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < weights.length; i++) s += Math.abs(weights[i]);
  const mean = weights.length > 0 ? s / weights.length : 0;
  return mean > 0 ? mean : 1;
}
