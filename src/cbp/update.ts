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

/** A rule's constants in float32, as the per-weight step reads them. */
export interface RuleConstants {
  readonly lr: number;
  readonly weightDecay: number;
  readonly beta: number;
  readonly clamp: boolean;
}

export function ruleConstants(rule: UpdateRule): RuleConstants {
  return {lr: Math.fround(rule.lr), weightDecay: Math.fround(rule.weightDecay), beta: Math.fround(MOMENTUM), clamp: rule.clamp};
}

/**
 * The rule for weight i, in place: `grad` is its whole gradient (λ⊙dc/dw already added); clip, decay, momentum,
 * step, clamp. Returns the new weight. The one update rule: updateWeights and the fused update (fused.ts) use it.
 */
export function updateAt(w: Float32Array, momentum: Float32Array, i: number, grad: number, c: RuleConstants): number {
  const f = Math.fround;
  const x = w[i];
  let g = grad > GRAD_CLIP ? GRAD_CLIP : grad < -GRAD_CLIP ? -GRAD_CLIP : grad;
  if (c.weightDecay > 0) g = f(g + f(x * c.weightDecay));
  const m = f(f(momentum[i] * c.beta) + g);
  momentum[i] = m;
  let next = f(x - f(m * c.lr));
  if (c.clamp) next = next > 1 ? 1 : next < -1 ? -1 : next;
  w[i] = next;
  return next;
}

export function updateWeights(w: Float32Array, grad: Float32Array, momentum: Float32Array, rule: UpdateRule, extra?: Float32Array): void {
  const n = w.length;
  if (grad.length !== n || momentum.length !== n || (extra !== undefined && extra.length !== n)) {
    throw new Error(`internal: update of ${n} weights with ${grad.length} gradients, ${momentum.length} momenta`);
  }
  const c = ruleConstants(rule);
  for (let i = 0; i < n; i++) updateAt(w, momentum, i, extra === undefined ? grad[i] : Math.fround(grad[i] + extra[i]), c);
}
