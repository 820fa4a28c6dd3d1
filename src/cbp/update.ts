/**
 * The reference's weight update for one tensor, in place, as a pure function over arrays (every value rounded to
 * float32 after each operation, as PyTorch computes in float32):
 *   g ← clip(∂(loss)/∂w + λ⊙dc/dw, −1, 1)             gradient clipping to ±1
 *   g ← g + weightDecay·w                            (conv/dense weights only; 0 turns it off)
 *   m ← 0.9·m + g;  w ← w − lr·m                     SGD with momentum 0.9 (no dampening)
 *   w ← clamp(w, −1, 1)                              (constrained latent weights only)
 * `grad` may already hold λ⊙dc/dw added in; `extra` is added to it first when given (the constraint's gradient).
 */
export interface UpdateRule {
  readonly lr: number;
  readonly weightDecay: number;
  readonly clamp: boolean;
}

export const MOMENTUM = 0.9;
export const GRAD_CLIP = 1;

export function updateWeights(w: Float32Array, grad: Float32Array, momentum: Float32Array, rule: UpdateRule, extra?: Float32Array): void {
  const f = Math.fround;
  const n = w.length;
  if (grad.length !== n || momentum.length !== n || (extra !== undefined && extra.length !== n)) {
    throw new Error(`internal: update of ${n} weights with ${grad.length} gradients, ${momentum.length} momenta`);
  }
  const lr = f(rule.lr);
  const wd = f(rule.weightDecay);
  const beta = f(MOMENTUM);
  for (let i = 0; i < n; i++) {
    let g = extra === undefined ? grad[i] : f(grad[i] + extra[i]);
    g = g > GRAD_CLIP ? GRAD_CLIP : g < -GRAD_CLIP ? -GRAD_CLIP : g;
    if (wd > 0) g = f(g + f(w[i] * wd));
    const m = f(f(momentum[i] * beta) + g);
    momentum[i] = m;
    let next = f(w[i] - f(m * lr));
    if (rule.clamp) next = next > 1 ? 1 : next < -1 ? -1 : next;
    w[i] = next;
  }
}
