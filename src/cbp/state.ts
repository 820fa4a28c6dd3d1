import * as os from 'node:os';
import {CbpError} from '../core/errors';
import {sizeOf, type Tensor32} from '../core/weights';
import {ascendLambdaArrays, type LambdaArrays} from './ascent';
import {cfsOf} from './constraint-arrays';
import {fusedUpdate} from './fused';
import {levelCounts, quantizeArray} from './levels';
import {updateWeights, type UpdateRule} from './update';
import {UpdateThreads} from './update-threads';

/** One constrained layer's multipliers and their Adam moments, in any representation (arrays, keys, tensors). */
export interface LambdaTriple<T> {
  readonly lambda: T;
  readonly m: T;
  readonly v: T;
}

/** A trainable tensor of the model: its key, PyTorch shape and starting value; `decay`: weight decay applies (conv and dense weights). */
export interface TrainableTensor {
  readonly key: string;
  readonly shape: readonly number[];
  readonly value: Float32Array;
  readonly decay: boolean;
}

/** A constrained layer: its weight (one of the trainable tensors), its fixed scale and the allowed levels in units of it. */
export interface ConstrainedLayerSpec {
  readonly name: string;
  readonly weightKey: string;
  readonly scale: number;
  readonly levels: readonly number[];
}

/** How a checkpoint names the state's tensors (src/train/state-keys.ts; cbp knows no file format). */
export interface StateKeys {
  momentum(param: string): string;
  lambda(layer: string): LambdaTriple<string>;
}

export interface CbpStateOptions {
  readonly trainable: readonly TrainableTensor[];
  readonly constrained: readonly ConstrainedLayerSpec[];
  /** Momentum and λ state of a resumed run, under `keys` (zero when absent). */
  readonly stored?: ReadonlyMap<string, Tensor32>;
  readonly keys: StateKeys;
  readonly weightDecay: number;
  readonly lrLambda: number;
  /** Add Σ λ⊙c(w) to the loss (CBP); false trains the straight-through baseline. */
  readonly constraintTerm: boolean;
  /**
   * Threads of the update pass: 2 splits every constrained layer with a worker thread (update-threads.ts). Default:
   * 2 from THREADS_MIN_WEIGHTS constrained weights on a machine with two cores or more.
   */
  readonly threads?: 1 | 2;
}

/** One constrained layer of the state, with its arrays (PyTorch layout). */
export interface CbpLayer extends ConstrainedLayerSpec {
  readonly shape: readonly number[];
  /** The latent weights, updated in place by each step. */
  readonly w: Float32Array;
  readonly momentum: Float32Array;
  /** λ in shared memory when the update runs on two threads (its Adam moments stay on this thread). */
  readonly lambda: LambdaArrays;
  /** The quantized weights the engine is fed, rewritten by each step's update for the next (never shared memory). */
  readonly quantized: Float32Array<ArrayBuffer>;
}

export interface LevelHistogram {
  readonly layer: string;
  readonly scale: number;
  readonly levels: readonly number[];
  /** counts[i]: weights whose quantized value is levels[i]·scale. */
  readonly counts: readonly number[];
  /** Weights whose quantized value is no level (only a latent weight exactly on a midpoint gives one). */
  readonly offLevel: number;
}

/** Constrained weights from which the update runs on two threads (measured: ResNet-18's 11 M; LeNet-5's 0.4 M is not worth a thread). */
export const THREADS_MIN_WEIGHTS = 1 << 20;

interface Trainable {
  readonly key: string;
  readonly shape: readonly number[];
  readonly w: Float32Array;
  readonly momentum: Float32Array;
  readonly decay: boolean;
}

function zeros(n: number, shared: boolean): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(4 * n)) : new Float32Array(n);
}

/**
 * Everything CBP keeps between steps, as arrays in PyTorch's layout, once for every engine: the latent value and SGD
 * momentum of each trainable tensor, and per constrained layer λ with its Adam moments, the scale, the levels and
 * the quantized weights the next forward pass sees. An engine computes the loss and the gradients at the weights
 * `fed` gives; this state does the rest: the fused update (fused.ts, on two threads for large models), the λ
 * ascent, CFS, λ's mean, the level histograms and the tensors a checkpoint stores.
 */
export class CbpState {
  readonly layers: readonly CbpLayer[];
  readonly constrainedWeights: number;
  private readonly trainables: ReadonlyMap<string, Trainable>;
  private readonly byWeight: ReadonlyMap<string, CbpLayer>;

  private constructor(
    private readonly o: CbpStateOptions,
    trainables: Map<string, Trainable>,
    layers: CbpLayer[],
    private readonly pool: UpdateThreads | undefined,
  ) {
    this.trainables = trainables;
    this.layers = layers;
    this.byWeight = new Map(layers.map((l) => [l.weightKey, l]));
    this.constrainedWeights = layers.reduce((n, l) => n + l.w.length, 0);
  }

  static create(o: CbpStateOptions): CbpState {
    const specs = new Map(o.trainable.map((t) => [t.key, t]));
    const constrainedKeys = new Set(o.constrained.map((l) => l.weightKey));
    const constrainedWeights = o.constrained.reduce((n, l) => n + sizeOf(specs.get(l.weightKey)?.shape ?? []), 0);
    const threads = o.threads ?? (constrainedWeights >= THREADS_MIN_WEIGHTS && os.availableParallelism() >= 2 ? 2 : 1);
    // Large models update on two threads: their constrained latent weights, momentum and λ are made in shared memory
    // from the start (one copy of each: on this machine every fresh megabyte costs, see docs/BENCHMARKS.md).
    const shared = threads === 2 && o.constrained.length > 0;
    const stored = (key: string, shape: readonly number[], inShared: boolean): Float32Array => {
      const t = o.stored?.get(key);
      if (t !== undefined && t.shape.join(',') !== shape.join(',')) throw new CbpError(`checkpoint tensor '${key}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, 'SHAPE_MISMATCH');
      const out = zeros(sizeOf(shape), inShared);
      if (t !== undefined) out.set(t.data);
      return out;
    };
    const trainables = new Map<string, Trainable>();
    for (const t of o.trainable) {
      const inShared = shared && constrainedKeys.has(t.key);
      const w = zeros(sizeOf(t.shape), inShared);
      w.set(t.value);
      trainables.set(t.key, {key: t.key, shape: t.shape, w, momentum: stored(o.keys.momentum(t.key), t.shape, inShared), decay: t.decay});
    }
    const layers: CbpLayer[] = o.constrained.map((l) => {
      const t = trainables.get(l.weightKey);
      if (t === undefined) throw new Error(`internal: constrained layer ${l.name} without a trainable weight ${l.weightKey}`);
      const keys = o.keys.lambda(l.name);
      return {
        ...l,
        shape: t.shape,
        w: t.w,
        momentum: t.momentum,
        lambda: {lambda: stored(keys.lambda, t.shape, shared), m: stored(keys.m, t.shape, false), v: stored(keys.v, t.shape, false)},
        quantized: quantizeArray(t.w, l.scale, l.levels),
      };
    });
    const pool = shared ? UpdateThreads.start(layers.map((l) => ({w: l.w, momentum: l.momentum, lambda: l.lambda.lambda, quantized: l.quantized, scale: l.scale, levels: l.levels}))) : undefined;
    return new CbpState(o, trainables, layers, pool);
  }

  /** Whether the update runs on two threads. */
  get threaded(): boolean {
    return this.pool !== undefined;
  }

  /** The latent value of a trainable tensor (a view: the next update changes it). */
  latent(key: string): Float32Array {
    return this.trainable(key).w;
  }

  /** What the forward pass sees for a trainable tensor: the quantized weights of a constrained layer, else the latent value. */
  fed(key: string): Float32Array {
    return this.byWeight.get(key)?.quantized ?? this.latent(key);
  }

  isConstrained(key: string): boolean {
    return this.byWeight.has(key);
  }

  /**
   * The update after a step, from the loss's gradient of each trainable tensor (at the weights `fed` gave): the
   * reference's rule (update.ts) on each float tensor; on each constrained layer one fused pass (fused.ts) that adds
   * λ⊙dc/dw, updates, and writes the next quantized weights. Returns Σ λ⊙c(w) of each constrained layer at the
   * weights before the update (0 without the constraint term), in layer order.
   */
  async update(grad: (key: string) => Float32Array, ucs: number, lr: number): Promise<number[]> {
    const rule = (t: Trainable): UpdateRule => ({lr, weightDecay: t.decay ? this.o.weightDecay : 0, clamp: this.byWeight.has(t.key)});
    for (const t of this.trainables.values()) if (!this.byWeight.has(t.key)) updateWeights(t.w, grad(t.key), t.momentum, rule(t));
    if (this.pool !== undefined) {
      // Every constrained layer has the same rule (a conv or dense weight: decay, clamp).
      return this.pool.update(this.layers.map((l) => grad(l.weightKey)), {lr, weightDecay: this.o.weightDecay, clamp: true}, ucs, this.o.constraintTerm);
    }
    return this.layers.map((l) => fusedUpdate(l.w, grad(l.weightKey), l.momentum, rule(this.trainable(l.weightKey)), {scale: l.scale, levels: l.levels, lambda: this.o.constraintTerm ? l.lambda.lambda : undefined, quantized: l.quantized}, ucs));
  }

  /** One Adam ascent step of every layer's λ on c(w) at this ucs; `step` is the 1-based count of ascents. */
  ascendLambda(ucs: number, step: number): void {
    for (const l of this.layers) ascendLambdaArrays(l.lambda, l.w, l.scale, l.levels, ucs, this.o.lrLambda, step);
  }

  /** Mean c(w) at ucs = 1 over the constrained weights (0 without constraint). */
  cfs(): number {
    return cfsOf(this.layers.map((l) => ({weights: l.w, scale: l.scale, levels: l.levels})));
  }

  /** Mean λ over the constrained weights. */
  lambdaMean(): number {
    if (this.constrainedWeights === 0) return 0;
    let s = 0;
    for (const l of this.layers) for (const v of l.lambda.lambda) s += v;
    return s / this.constrainedWeights;
  }

  histograms(): LevelHistogram[] {
    return this.layers.map((l) => ({layer: l.name, scale: l.scale, levels: l.levels, ...levelCounts(l.w, l.scale, l.levels)}));
  }

  /**
   * The tensors a checkpoint stores from this state, named by `keys`: each trainable tensor's latent value (under its
   * own key) and momentum, each constrained layer's λ and Adam moments. Views, not copies: a ResNet-18 checkpoint is
   * written straight from these arrays (the next step or ascent changes them; copy to keep).
   */
  tensors(): Map<string, Tensor32> {
    const out = new Map<string, Tensor32>();
    for (const t of this.trainables.values()) out.set(t.key, {shape: t.shape, data: t.w});
    for (const t of this.trainables.values()) out.set(this.o.keys.momentum(t.key), {shape: t.shape, data: t.momentum});
    for (const l of this.layers) {
      const keys = this.o.keys.lambda(l.name);
      out.set(keys.lambda, {shape: l.shape, data: l.lambda.lambda});
      out.set(keys.m, {shape: l.shape, data: l.lambda.m});
      out.set(keys.v, {shape: l.shape, data: l.lambda.v});
    }
    return out;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  private trainable(key: string): Trainable {
    const t = this.trainables.get(key);
    if (t === undefined) throw new Error(`internal: no trainable tensor ${key}`);
    return t;
  }
}
