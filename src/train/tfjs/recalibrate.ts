import {tf} from './tf';
import type {BatchStats, Network} from './network';
import type {TrainData} from './sources';

/**
 * Re-estimates every batch-norm layer's running mean and variance for the network's current (quantized) weights,
 * without training: the forward pass in training mode over the first `images` of one shuffled epoch, each layer's
 * batch means and unbiased variances averaged over the batches, weighted by batch size (PyTorch's cumulative
 * average, `momentum=None`). Rounding a float model to the levels changes every layer's output statistics; this is
 * the cheap repair that leaves the weights alone. Returns the number of images used.
 */
export async function recalibrateBatchNorm(net: Network, ds: TrainData, images: number, batchSize: number, seed: number): Promise<number> {
  const bns = net.spec.nodes.filter((n) => n.kind === 'batchnorm').map((n) => n.name);
  const sums = new Map<string, {mean: Float64Array; variance: Float64Array}>();
  let seen = 0;
  const [c, h, w] = ds.shape;
  for await (const batch of ds.trainBatches(0, batchSize, seed)) {
    if (seen >= images) break;
    const n = Math.min(batch.count, images - seen);
    if (n < 2) break;
    const stats = new Map<string, BatchStats>();
    tf.tidy(() => {
      net.forward(tf.tensor4d(batch.x.subarray(0, n * h * w * c), [n, h, w, c]), true, stats);
    });
    for (const name of bns) {
      const s = stats.get(name);
      if (s === undefined) continue;
      const mean = s.mean.dataSync();
      const variance = s.variance.dataSync();
      s.mean.dispose();
      s.variance.dispose();
      const acc = sums.get(name) ?? {mean: new Float64Array(mean.length), variance: new Float64Array(mean.length)};
      const unbias = s.count > 1 ? s.count / (s.count - 1) : 1;
      for (let i = 0; i < mean.length; i++) {
        acc.mean[i] += mean[i] * n;
        acc.variance[i] += variance[i] * unbias * n;
      }
      sums.set(name, acc);
    }
    seen += n;
  }
  for (const [name, acc] of sums) {
    tf.tidy(() => {
      net.vars.get(`${name}.running_mean`)?.assign(tf.tensor1d(Float32Array.from(acc.mean, (v) => v / seen)));
      net.vars.get(`${name}.running_var`)?.assign(tf.tensor1d(Float32Array.from(acc.variance, (v) => v / seen)));
    });
  }
  return seen;
}
