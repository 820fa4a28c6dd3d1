import {tf} from '../../core/tf';
import {ascendLambda, type LambdaState} from './lambda';
import type {Tensor32} from '../../core/weights';
import {float32Values} from './tensors';
import {engineState} from '../state-keys';
import type {Engine, EngineOptions, EngineSettings} from '../engine';
import {describeBackend, selectBackend} from './backend';
import {checkWorkersOnBackend} from '../../core/backend-choice';
import {defaultWorkers} from './shards';
import {fromTfjs} from './layout';
import {cfs, constrainedCount, levelHistograms} from './metrics';
import {Network} from './network';
import {ShardPool} from './shards';
import {cbpStep, createTrainState, disposeTrainState} from './step';
import {tfjsAccuracy} from './sources';

export interface TfjsEngineOptions extends EngineOptions {
  /** The tfjs backend already selected (tensorflow, wasm, cpu). */
  readonly backend: string;
  /** Threads per step (data-parallel shards on wasm/cpu). */
  readonly workers: number;
}

/** The TensorFlow.js engine on the backend and threads a run asks for (`--backend`, `--workers`). */
export async function createTfjsOnBackend(common: EngineOptions, s: EngineSettings): Promise<Engine> {
  const backend = await selectBackend(s.backend);
  s.log(describeBackend(backend));
  // Resolving the options refused it for --backend tensorflow; `auto` is known to find that backend only now.
  if (s.backend === 'auto') checkWorkersOnBackend(s.workers, backend.name);
  const workers = s.workers === 'auto' ? defaultWorkers(backend.name, s.batchSize) : s.workers;
  s.log(`threads per step: ${workers}${workers > 1 ? ` (the batch is split over them, batch norm synchronised)` : ''}`);
  return createTfjsEngine({...common, backend: backend.name, workers});
}

/** The TensorFlow.js engine: the network in tfjs variables, hand-written gradients, optional worker-thread shards. */
export async function createTfjsEngine(o: TfjsEngineOptions): Promise<Engine> {
  const net = new Network(o.spec, o.quant, o.weights);
  const st = createTrainState(net, o.weightDecay, o.source.numClasses, o.stored, o.constraintTerm);
  let pool: ShardPool | undefined;
  try {
    pool = o.workers > 1 ? await ShardPool.create(o.workers, net, o.backend, o.source.numClasses) : undefined;
  } catch (e) {
    disposeTrainState(st);
    net.dispose();
    throw e;
  }
  const trainable = net.infos.filter((i) => i.trainable);
  const constrainedWeights = constrainedCount(net);
  const lambdaOf = (layer: string): LambdaState => {
    const l = st.lambdas.get(layer);
    if (l === undefined) throw new Error(`internal: no multipliers for ${layer}`);
    return l;
  };
  return {
    backend: o.backend,
    layout: 'NHWC',
    constrainedLayers: net.constrained.length,
    constrainedWeights,
    step: (batch, ucs, lr) => cbpStep(st, batch.x, batch.y, batch.count, o.source.shape, ucs, lr, pool),
    ascendLambda(ucs, step) {
      for (const c of net.constrained) ascendLambda(lambdaOf(c.node.name), net.variable(c.weightKey), c.scale, c.levels, ucs, o.lrLambda, step);
    },
    evaluate: () => tfjsAccuracy(net, o.source),
    cfs: () => cfs(net),
    lambdaMean() {
      if (constrainedWeights === 0) return 0;
      let s = 0;
      for (const l of st.lambdas.values()) {
        const t = tf.sum(l.lambda);
        s += t.dataSync()[0];
        t.dispose();
      }
      return s / constrainedWeights;
    },
    histograms: () => levelHistograms(net),
    state() {
      const pytorch = (v: tf.Tensor, info: (typeof trainable)[number]): Tensor32 => {
        const t = tf.tidy(() => fromTfjs(info, v));
        const data = float32Values(t);
        t.dispose();
        return {shape: info.shape, data};
      };
      return engineState(
        net.toWeights(),
        trainable.flatMap((i) => {
          const m = st.momentum.get(i.key);
          return m !== undefined ? [[i.key, pytorch(m, i)] as const] : [];
        }),
        net.constrained.map((c) => {
          const info = trainable.find((i) => i.key === c.weightKey);
          if (info === undefined) throw new Error(`internal: no tensor info for ${c.weightKey}`);
          const l = lambdaOf(c.node.name);
          return [c.node.name, {lambda: pytorch(l.lambda, info), m: pytorch(l.m, info), v: pytorch(l.v, info)}] as const;
        }),
      );
    },
    async close() {
      await pool?.close();
      disposeTrainState(st);
      net.dispose();
    },
  };
}
