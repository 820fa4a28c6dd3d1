import {tf} from '../../core/tf';
import {constraintOnArrays} from '../../cbp/constraint-arrays';
import {updateWeights} from '../../cbp/update';
import type {LambdaState} from './lambda';
import {CbpError} from '../../core/errors';
import type {Tensor32} from '../../core/weights';
import {required} from '../../core/checks';
import {float32Values} from './tensors';
import {lambdaKeys, momentumKey} from '../state-keys';
import {toTfjs} from './layout';
import type {BatchStats, Network} from './network';
import type {ShardPool} from './shards';
import type {StepResult} from '../engine';

/** Everything one CBP step updates besides the network: SGD momentum per tensor and λ (with Adam state) per layer. */
export interface TrainState {
  readonly net: Network;
  readonly momentum: Map<string, tf.Variable>;
  readonly lambdas: Map<string, LambdaState>;
  readonly weightDecay: number;
  readonly classes: number;
  /** Add Σ λ⊙c(w) to the loss (CBP); false trains the straight-through baseline. */
  readonly constraintTerm: boolean;
}

function tensorOf(tensors: ReadonlyMap<string, Tensor32> | undefined, key: string, shape: readonly number[]): tf.Tensor {
  const t = tensors?.get(key);
  if (t === undefined) return tf.zeros([...shape]);
  if (t.shape.join(',') !== shape.join(',')) throw new CbpError(`checkpoint tensor '${key}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return tf.tensor(t.data, [...t.shape], 'float32');
}

/** Fresh (zero) optimizer state and multipliers, or those stored in a checkpoint being resumed. */
export function createTrainState(net: Network, weightDecay: number, classes: number, stored?: ReadonlyMap<string, Tensor32>, constraintTerm = true): TrainState {
  const make = (info: (typeof net.infos)[number], key: string): tf.Variable =>
    tf.tidy(() => tf.variable(toTfjs(info, tensorOf(stored, key, info.shape)), false));
  const momentum = new Map(net.infos.filter((i) => i.trainable).map((i) => [i.key, make(i, momentumKey(i.key))]));
  const lambdas = new Map<string, LambdaState>();
  for (const c of net.constrained) {
    const info = net.infos.find((i) => i.key === c.weightKey);
    if (info === undefined) throw new CbpError(`internal: no tensor info for ${c.weightKey}`);
    const keys = lambdaKeys(c.node.name);
    lambdas.set(c.node.name, {lambda: make(info, keys.lambda), m: make(info, keys.m), v: make(info, keys.v)});
  }
  return {net, momentum, lambdas, weightDecay, classes, constraintTerm};
}

export function disposeTrainState(s: TrainState): void {
  for (const v of s.momentum.values()) v.dispose();
  for (const l of s.lambdas.values()) (l.lambda.dispose(), l.m.dispose(), l.v.dispose());
}

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

/**
 * One step on the Lagrangian cross-entropy + Σ λ⊙c(w) (λ fixed): the gradients here, the update by the reference's
 * rule (src/cbp/update.ts: clip ±1, weight decay on conv/dense weights, SGD momentum 0.9, clamp of constrained latent
 * weights to [−1, 1]), and the batch-norm running statistics updated.
 *
 * With a shard pool the batch is split over threads: this thread computes the first shard (and the constraint
 * term), the pool's workers the others, batch norm is synchronised over all of them, and the gradients are summed
 * here before the update — the same step as on the whole batch, up to the order of floating-point sums.
 */
export async function cbpStep(s: TrainState, x: Float32Array, y: Int32Array, n: number, shape: readonly [number, number, number], ucs: number, lr: number, pool?: ShardPool): Promise<StepResult> {
  const {net} = s;
  const trainable = net.infos.filter((i) => i.trainable);
  const stats = new Map<string, BatchStats>();
  const sharded = pool !== undefined && n >= pool.size ? pool : undefined;
  const own = sharded ? sharded.shardSize(n, 0) : n;
  const remote = sharded?.start(net, x, y, n, shape);
  let local: ReturnType<typeof lossGrads>;
  try {
    net.reducer = sharded?.reducer;
    const [xs, ys] = own === n ? [x, y] : [x.subarray(0, own * shape[0] * shape[1] * shape[2]), y.subarray(0, own)];
    local = lossGrads(net, xs, ys, own, shape, s.classes, own / n, stats);
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
  let lagrangian = (await value.data())[0];
  let loss = ((await ce.data())[0] * own) / n;
  value.dispose();
  ce.dispose();
  if (others !== undefined) {
    lagrangian += others.weightedLoss;
    loss += others.weightedLoss;
  }
  // Σ λ⊙c(w) and its gradient, on the arrays (see constraintOnArrays), added to the cross-entropy's.
  const constraintGrads = new Map<string, Float32Array>();
  for (const layer of s.constraintTerm ? net.constrained : []) {
    const l = required(s.lambdas, layer.node.name, 'multipliers');
    const c = constraintOnArrays(float32Values(net.variable(layer.weightKey)), float32Values(l.lambda), layer.scale, layer.levels, ucs);
    lagrangian += c.value;
    constraintGrads.set(layer.weightKey, c.grad);
  }
  const finite = Number.isFinite(lagrangian) && Number.isFinite(loss);
  if (finite) {
    const constrained = new Set(net.constrained.map((l) => l.weightKey));
    // The update itself is the engine-free rule of src/cbp/update.ts, on copies of the arrays.
    for (const i of trainable) {
      const v = net.variable(i.key);
      const g = others === undefined ? grads[v.name] : tf.tidy(() => tf.add(grads[v.name], others.grad(i.key, v.shape)));
      const grad = float32Values(g);
      if (g !== grads[v.name]) g.dispose();
      const buf = required(s.momentum, i.key, 'momentum');
      const w = Float32Array.from(float32Values(v));
      const m = Float32Array.from(float32Values(buf));
      updateWeights(w, grad, m, {lr, weightDecay: i.role === 'weight' ? s.weightDecay : 0, clamp: constrained.has(i.key)}, constraintGrads.get(i.key));
      tf.tidy(() => {
        buf.assign(tf.tensor(m, buf.shape, 'float32'));
        v.assign(tf.tensor(w, v.shape, 'float32'));
      });
    }
    net.updateRunningStats(stats);
  } else {
    for (const st of stats.values()) (st.mean.dispose(), st.variance.dispose());
  }
  for (const g of Object.values(grads)) g.dispose();
  return {loss, lagrangian, finite};
}
