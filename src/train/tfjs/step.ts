import {tf} from './tf';
import {CbpError} from '../../core/errors';
import {float32Values} from './tensors';
import {fromTfjs} from './layout';
import type {BatchStats, Network} from './network';
import type {ShardPool} from './shards';

function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classes: number): tf.Scalar {
  return tf.neg(tf.mean<tf.Scalar>(tf.sum(tf.mul(tf.oneHot(labels, classes), tf.logSoftmax(logits)), 1)));
}


/**
 * The gradients of weight · cross-entropy on one batch (or one shard of it). Returns the value, the plain
 * cross-entropy (mean over this batch) and one gradient per trainable variable.
 */
export function lossGrads(
  net: Network,
  x: Float32Array,
  y: Int32Array,
  n: number,
  shape: readonly [number, number, number],
  classes: number,
  weight: number,
  stats?: Map<string, BatchStats>,
): {value: tf.Scalar; ce: tf.Scalar; grads: tf.NamedTensorMap} {
  const [c, h, w] = shape;
  let ceKept: tf.Scalar | undefined;
  const {value, grads} = tf.variableGrads(() => {
    const logits = net.forward(tf.tensor4d(x, [n, h, w, c]), true, stats);
    const ce = crossEntropy(logits, tf.tensor1d(y, 'int32'), classes);
    ceKept = tf.keep(ce);
    return weight === 1 ? ce : tf.mul(ce, weight);
  }, net.trainableVars());
  if (ceKept === undefined) throw new Error('internal: variableGrads did not run the loss function');
  return {value, ce: ceKept, grads};
}

/** What one batch gives: the loss, the gradient of each trainable tensor (PyTorch layout) and the batch-norm statistics. */
export interface BatchGradients {
  /** The cross-entropy, mean over the batch. */
  readonly loss: number;
  /** The loss as differentiated (the shards' weighted shares summed): the Lagrangian before Σ λ⊙c(w) is added. */
  readonly weighted: number;
  readonly grads: ReadonlyMap<string, Float32Array>;
  /** Each batch norm's statistics over the whole batch, for the running statistics (the caller disposes them). */
  readonly stats: Map<string, BatchStats>;
}

/**
 * The loss and gradients of one batch at the weights the network holds (quantized for constrained layers: the
 * gradient of a quantized weight is its latent weight's, the straight-through estimator), in PyTorch's layout for
 * the CBP state (src/cbp/state.ts), which does the update.
 *
 * With a shard pool the batch is split over threads: this thread computes the first shard, the pool's workers the
 * others, batch norm is synchronised over all of them, and the gradients are summed here — the same gradients as on
 * the whole batch, up to the order of floating-point sums.
 */
export async function batchGradients(net: Network, x: Float32Array, y: Int32Array, n: number, shape: readonly [number, number, number], classes: number, pool?: ShardPool): Promise<BatchGradients> {
  const trainable = net.infos.filter((i) => i.trainable);
  const stats = new Map<string, BatchStats>();
  const sharded = pool !== undefined && n >= pool.size ? pool : undefined;
  const own = sharded ? sharded.shardSize(n, 0) : n;
  const remote = sharded?.start(net, x, y, n, shape);
  let local: ReturnType<typeof lossGrads>;
  try {
    net.reducer = sharded?.reducer;
    const [xs, ys] = own === n ? [x, y] : [x.subarray(0, own * shape[0] * shape[1] * shape[2]), y.subarray(0, own)];
    local = lossGrads(net, xs, ys, own, shape, classes, own / n, stats);
  } catch (e) {
    sharded?.abort();
    // When this thread stopped because a worker failed, the worker's own error is the one worth reporting.
    const remoteError: unknown = await remote?.then(() => undefined, (r: unknown) => r);
    throw e instanceof CbpError && e.code === 'WORKER_FAILED' && remoteError !== undefined ? remoteError : e;
  } finally {
    net.reducer = undefined;
  }
  const {value, ce, grads} = local;
  const others = remote
    ? await remote.catch((e: unknown) => {
        for (const t of [value, ce, ...Object.values(grads)]) t.dispose();
        for (const st of stats.values()) (st.mean.dispose(), st.variance.dispose());
        throw e;
      })
    : undefined;
  let weighted = (await value.data())[0];
  let loss = ((await ce.data())[0] * own) / n;
  value.dispose();
  ce.dispose();
  if (others !== undefined) {
    weighted += others.weightedLoss;
    loss += others.weightedLoss;
  }
  const out = new Map<string, Float32Array>();
  for (const i of trainable) {
    const v = net.variable(i.key);
    const g = tf.tidy(() => fromTfjs(i, others === undefined ? grads[v.name] : tf.add(grads[v.name], others.grad(i.key, v.shape))));
    out.set(i.key, float32Values(g));
    g.dispose();
  }
  for (const g of Object.values(grads)) g.dispose();
  return {loss, weighted, grads: out, stats};
}
