import {required} from '../../core/checks';
import {CbpState} from '../../cbp/state';
import {STATE_KEYS} from '../state-keys';
import type {Engine, EngineOptions, EngineSettings} from '../engine';
import {describeBackend, selectBackend} from './backend';
import {checkWorkersOnBackend} from '../../core/backend-choice';
import {defaultWorkers} from './shards';
import {Network} from './network';
import {ShardPool} from './shards';
import {batchGradients} from './step';
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

/**
 * The TensorFlow.js engine: the network in tfjs variables with hand-written gradients, optional worker-thread
 * shards. It computes the loss and the gradients at the quantized weights the CBP state (src/cbp/state.ts) feeds it;
 * the state does the update, the λ ascent and the measures, as for the ONNX Runtime engine.
 */
export async function createTfjsEngine(o: TfjsEngineOptions): Promise<Engine> {
  const net = new Network(o.spec, o.quant, o.weights);
  const trainable = net.infos.filter((i) => i.trainable);
  let cbp: CbpState;
  let pool: ShardPool | undefined;
  try {
    cbp = CbpState.create({
      // The Network checked every tensor's presence and shape.
      trainable: trainable.map((i) => ({key: i.key, shape: i.shape, value: required(o.weights, i.key, 'weights').data, decay: i.role === 'weight'})),
      constrained: net.constrained.map((c) => ({name: c.node.name, weightKey: c.weightKey, scale: c.scale, levels: c.levels})),
      stored: o.stored,
      keys: STATE_KEYS,
      weightDecay: o.weightDecay,
      lrLambda: o.lrLambda,
      constraintTerm: o.constraintTerm,
    });
  } catch (e) {
    net.dispose();
    throw e;
  }
  try {
    pool = o.workers > 1 ? await ShardPool.create(o.workers, net, o.backend, o.source.numClasses) : undefined;
  } catch (e) {
    await cbp.close();
    net.dispose();
    throw e;
  }
  // The network's trainable variables hold what the state feeds (quantized weights of constrained layers); they are
  // written again after each update, before the next forward pass.
  let fed = false;
  const feed = (): void => {
    if (fed) return;
    for (const i of trainable) net.assign(i.key, cbp.fed(i.key));
    fed = true;
  };
  return {
    backend: o.backend,
    layout: 'NHWC',
    constrainedLayers: cbp.layers.length,
    constrainedWeights: cbp.constrainedWeights,
    async step(batch, ucs, lr) {
      feed();
      const r = await batchGradients(net, batch.x, batch.y, batch.count, o.source.shape, o.source.numClasses, pool);
      let lagrangian = r.weighted;
      if (Number.isFinite(r.loss) && Number.isFinite(lagrangian)) {
        for (const v of await cbp.update((key) => required(r.grads, key, 'gradients'), ucs, lr)) lagrangian += v;
        fed = false;
        net.updateRunningStats(r.stats);
      } else {
        for (const st of r.stats.values()) (st.mean.dispose(), st.variance.dispose());
      }
      return {loss: r.loss, lagrangian, finite: Number.isFinite(r.loss) && Number.isFinite(lagrangian)};
    },
    ascendLambda: (ucs, step) => cbp.ascendLambda(ucs, step),
    evaluate() {
      feed();
      return tfjsAccuracy(net, o.source);
    },
    cfs: () => cbp.cfs(),
    lambdaMean: () => cbp.lambdaMean(),
    histograms: () => cbp.histograms(),
    // The running statistics and scales from the network, the rest (PyTorch layout) from the state.
    state: () => new Map([...net.toWeights((i) => !i.trainable), ...cbp.tensors()]),
    async close() {
      await pool?.close();
      await cbp.close();
      net.dispose();
    },
  };
}
