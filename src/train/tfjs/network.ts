import {tf} from './tf';
import {LEVELS, quantizeArray} from '../../cbp/levels';
import {initialScale} from '../../cbp/scale';
import {CbpError} from '../../core/errors';
import {required} from '../../core/checks';
import {float32Values, rank1, rank2, rank4} from './tensors';
import {sameShape, type Weights} from '../../core/weights';
import {INPUT, isWeightNode, kindOf, paramInfos, type ModelSpec, type Pair, type ParamInfo, type QuantOrNone, type WeightNode, tfjsRefusal} from '../../../models/spec';
import type {TfjsKernels} from '../../../models/kinds/index';
import {batchNormTrain, type ShardReducer} from './batchnorm';
import {makeConv2d} from './conv';
import {dense} from './dense';
import {makeMaxPool} from './maxpool';
import {fromTfjs, toTfjs} from './layout';
import {updateRunningStats} from '../running-stats';

export interface ConstrainedLayer {
  readonly node: WeightNode;
  readonly weightKey: string;
  readonly levels: readonly number[];
  readonly scale: number;
}

export interface BatchStats {
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
  readonly count: number;
}

/**
 * The tfjs interpreter of a ModelSpec: it owns one variable per tensor of the model (tfjs layout) and runs the
 * forward pass on them. A constrained layer's variable holds its quantized weights — quantized from the weights
 * given here, then fed by the training engine from the CBP state (src/cbp/state.ts) before each step — so the
 * gradient the engine computes for it is the latent weight's (the straight-through estimator's gradient is the
 * identity), and no quantizer runs in tfjs.
 */
export class Network {
  readonly infos: ParamInfo[];
  readonly vars = new Map<string, tf.Variable>();
  readonly constrained: ConstrainedLayer[] = [];
  /** Convolutions and max-pools with their own gradients, one per geometry. */
  private readonly convs = new Map<string, (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D>();
  private readonly maxPools = new Map<string, ((x: tf.Tensor4D) => tf.Tensor4D) | undefined>();
  /** Set while this network computes one shard of a data-parallel batch: batch norm then uses the whole batch's statistics. */
  reducer: ShardReducer | undefined;
  /** tfjs variable names are global to the process; a per-network prefix keeps two networks apart. */
  private readonly id = `net${++networkCount}`;

  /** `purpose`: 'forward' builds only the inference forward pass (an export's check), which needs less of the kinds. */
  constructor(readonly spec: ModelSpec, readonly quant: QuantOrNone, weights: Weights, purpose: 'train' | 'forward' = 'train') {
    const refusal = tfjsRefusal(spec, purpose === 'train');
    if (refusal !== undefined) throw new CbpError(refusal);
    this.infos = paramInfos(spec, quant);
    for (const info of this.infos) {
      if (info.role === 'scale') continue;
      const t = weights.get(info.key);
      if (t === undefined) throw new CbpError(`weights for model ${spec.name}: missing '${info.key}'`);
      if (!sameShape(t.shape, info.shape)) {
        throw new CbpError(`weights for model ${spec.name}: '${info.key}' has shape [${t.shape.join(', ')}], expected [${info.shape.join(', ')}]`);
      }
    }
    if (quant !== 'none') {
      for (const info of this.infos) {
        if (info.role !== 'scale') continue;
        const node = spec.nodes.find((n): n is WeightNode => n.name === info.node && isWeightNode(n));
        if (node === undefined) throw new Error(`internal: scale ${info.key} of no weight layer`);
        const weightKey = `${node.name}.weight`;
        const given = weights.get(info.key);
        // CBP initialises the scale to mean|w| of the starting weights and never trains it.
        const scale = given !== undefined ? given.data[0] : initialScale(weights.get(weightKey)?.data ?? []);
        if (!(scale > 0) || !Number.isFinite(scale)) throw new CbpError(`weights for model ${spec.name}: scale of '${node.name}' is ${scale}, expected a positive number`);
        this.constrained.push({node, weightKey, levels: LEVELS[quant], scale});
      }
    }
    for (const info of this.infos) {
      if (info.role === 'scale') continue;
      const t = required(weights, info.key, 'weights');
      const layer = this.constrained.find((c) => c.weightKey === info.key);
      const data = layer === undefined ? t.data : quantizeArray(t.data, layer.scale, layer.levels);
      const value = tf.tidy(() => toTfjs(info, tf.tensor(data, [...t.shape], 'float32')));
      this.vars.set(info.key, tf.variable(value, info.trainable, `${this.id}/${info.key}`));
      value.dispose();
    }
  }

  trainableVars(): tf.Variable[] {
    return this.infos.filter((i) => i.trainable).map((i) => this.variable(i.key));
  }

  variable(key: string): tf.Variable {
    const v = this.vars.get(key);
    if (v === undefined) throw new CbpError(`model ${this.spec.name} has no tensor '${key}'`);
    return v;
  }

  /** The weights the forward pass uses for a layer: quantized for constrained layers (see the class), latent otherwise. */
  forwardWeight(layerName: string): tf.Tensor {
    return this.variable(`${layerName}.weight`);
  }

  /** Logits for an NHWC batch. In training mode batch-norm uses batch statistics and reports them in `stats`. */
  forward(x: tf.Tensor4D, training: boolean, stats?: Map<string, BatchStats>): tf.Tensor2D {
    const values = new Map<string, tf.Tensor>([[INPUT, x]]);
    const get = (name: string): tf.Tensor => required(values, name, 'computed value');
    const kernels = this.kernels(training, stats);
    for (const node of this.spec.nodes) {
      const kind = kindOf(node);
      if (kind.tfjs === undefined) throw new Error(`internal: ${node.kind} passed the constructor's check`);
      values.set(node.name, kind.tfjs(node, kernels, kind.inputs(node).map(get)));
    }
    return rank2(get(this.spec.output));
  }

  /** The kernels the node kinds' tfjs forward passes wire (models/kinds). */
  private kernels(training: boolean, stats?: Map<string, BatchStats>): TfjsKernels<tf.Tensor> {
    return {
      training,
      param: (key) => this.variable(key),
      weight: (node) => this.forwardWeight(node.name),
      conv2d: (x, w, stride, padding, firstLayer) => {
        const key = `${stride.join(',')}:${padding.join(',')}:${firstLayer}`;
        let conv = this.convs.get(key);
        if (conv === undefined) this.convs.set(key, (conv = makeConv2d(stride, padding, !firstLayer)));
        return conv(rank4(x), rank4(w));
      },
      dense: (x, w) => dense(rank2(x), rank2(w)),
      batchNorm: (layer, eps, x) => {
        const gamma = this.variable(`${layer}.weight`);
        const beta = this.variable(`${layer}.bias`);
        if (training) {
          const r = batchNormTrain(x, rank1(gamma), rank1(beta), eps, this.reducer);
          if (stats) stats.set(layer, {mean: r.mean, variance: r.variance, count: r.count});
          else (r.mean.dispose(), r.variance.dispose());
          return r.y;
        }
        const mean = this.variable(`${layer}.running_mean`);
        const variance = this.variable(`${layer}.running_var`);
        return tf.add(tf.mul(tf.sub(x, mean), tf.mul(tf.rsqrt(tf.add(variance, eps)), gamma)), beta);
      },
      maxPool: (x, kernel, stride, padding) => {
        const key = `${kernel.join(',')}:${stride.join(',')}:${padding.join(',')}`;
        if (!this.maxPools.has(key)) this.maxPools.set(key, makeMaxPool(kernel, stride, padding));
        const pool = training ? this.maxPools.get(key) : undefined;
        if (pool !== undefined) return pool(rank4(x));
        return tf.maxPool(rank4(x), pair(kernel), pair(stride), padding[0] === 0 ? 'valid' : padding[0]);
      },
      avgPool: (layer, x, kernel, stride, padding) => {
        if (padding[0] !== 0) throw new CbpError(`layer ${layer}: padded average pooling is not supported`);
        return tf.avgPool(rank4(x), pair(kernel), pair(stride), 'valid');
      },
      spatialMean: (x) => tf.mean(x, [1, 2], true),
      add: (a, b) => tf.add(a, b),
      relu: (x) => tf.relu(x),
      // PyTorch flattens NCHW (channel-major), so match it to keep dense weights in PyTorch order.
      flatten: (x) => (x.rank === 4 ? tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]) : x),
    };
  }

  /** Folds a training batch's statistics into the running mean and (unbiased) variance, as PyTorch does. */
  updateRunningStats(stats: Map<string, BatchStats>): void {
    for (const node of this.spec.nodes) {
      if (node.kind !== 'batchnorm') continue;
      const s = stats.get(node.name);
      if (s === undefined) continue;
      const rm = this.variable(`${node.name}.running_mean`);
      const rv = this.variable(`${node.name}.running_var`);
      const [mean, variance] = [float32Values(rm).slice(), float32Values(rv).slice()];
      updateRunningStats(mean, variance, float32Values(s.mean), float32Values(s.variance), node.momentum, s.count);
      rm.assign(tf.tensor1d(mean));
      rv.assign(tf.tensor1d(variance));
      s.mean.dispose();
      s.variance.dispose();
    }
  }

  /**
   * The model's tensors in PyTorch layout, CBP scales included, as the forward pass uses them (quantized weights of
   * constrained layers); `which` picks the tensors (all by default).
   */
  toWeights(which: (info: ParamInfo) => boolean = () => true): Weights {
    const out: Weights = new Map();
    for (const info of this.infos) {
      if (!which(info)) continue;
      if (info.role === 'scale') {
        const layer = this.constrained.find((c) => c.node.name === info.node);
        if (layer === undefined) throw new Error(`internal: scale ${info.key} of no constrained layer`);
        out.set(info.key, {shape: [1], data: Float32Array.of(layer.scale)});
        continue;
      }
      const t = tf.tidy(() => fromTfjs(info, this.variable(info.key)));
      out.set(info.key, {shape: info.shape, data: float32Values(t)});
      t.dispose();
    }
    return out;
  }

  /** Writes a tensor's values, given in PyTorch layout, into its variable. */
  assign(key: string, data: Float32Array): void {
    const info = this.infos.find((i) => i.key === key);
    if (info === undefined) throw new Error(`internal: model ${this.spec.name} has no tensor ${key}`);
    const v = this.variable(key);
    tf.tidy(() => v.assign(toTfjs(info, tf.tensor(data, [...info.shape], 'float32'))));
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
  }
}

let networkCount = 0;

/** A kernel or stride as the mutable tuple tfjs's pooling ops take. */
function pair(p: Pair): [number, number] {
  return [p[0], p[1]];
}
