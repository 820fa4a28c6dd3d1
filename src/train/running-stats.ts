/**
 * PyTorch's running-statistics update of a batch norm (momentum m, the unbiased batch variance), in float32 as
 * tensors compute it: r ← r·(1 − m) + batch·m, rounded after every operation. Both engines call it, so a run's
 * statistics do not depend on the engine.
 */
export function updateRunningStats(rm: Float32Array, rv: Float32Array, mean: ArrayLike<number>, variance: ArrayLike<number>, m: number, count: number): void {
  const f = Math.fround;
  const keep = f(1 - m);
  const take = f(m);
  const takeVar = f(m * (count > 1 ? count / (count - 1) : 1));
  for (let i = 0; i < rm.length; i++) {
    rm[i] = f(f(rm[i] * keep) + f(mean[i] * take));
    rv[i] = f(f(rv[i] * keep) + f(variance[i] * takeVar));
  }
}
