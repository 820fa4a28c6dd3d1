import {required} from '../../core/checks';
import {CbpState} from '../../cbp/state';
import {STATE_KEYS} from '../state-keys';
import {cbpEngine, type Engine, type EngineOptions, type EngineSettings, type GradientEngine} from '../engine';
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
  // The network's trainable variables hold what the state feeds (quantized weights of constrained layers), written
  // before each forward pass: the last update changed them.
  const feed = (): void => {
    for (const i of trainable) net.assign(i.key, cbp.fed(i.key));
  };
  const engine: GradientEngine = {
    backend: o.backend,
    layout: 'NHWC',
    async gradients(batch) {
      feed();
      const r = await batchGradients(net, batch.x, batch.y, batch.count, o.source.shape, o.source.numClasses, pool);
      let kept = false;
      return {
        loss: r.loss,
        weighted: r.weighted,
        grad: (key) => required(r.grads, key, 'gradients'),
        keepStatistics() {
          kept = true;
          net.updateRunningStats(r.stats);
        },
        release() {
          if (!kept) for (const st of r.stats.values()) (st.mean.dispose(), st.variance.dispose());
        },
      };
    },
    evaluate() {
      feed();
      return tfjsAccuracy(net, o.source);
    },
    // The running statistics and scales (PyTorch layout); the rest is the state's.
    ownTensors: () => net.toWeights((i) => !i.trainable),
    async close() {
      await pool?.close();
      net.dispose();
    },
  };
  return cbpEngine(engine, cbp);
}
