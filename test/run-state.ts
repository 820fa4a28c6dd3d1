import type {EpochRecord, RunConfig, RunState} from '../src/run/checkpoint';

/** A small constrained run's config, and made-up epoch records and run states from it, for tests of views of a run. */
export const RUN_CONFIG: RunConfig = {model: 'lenet5', quant: 'bin', data: 'mnist', numClasses: 10, seed: 1, batchSize: 256, lr: 1e-3, lrLambda: 1e-4, weightDecay: 1e-4, period: 20, limit: 512, epochs: 4, init: null};

export function runRecord(epoch: number, seconds = 5): EpochRecord {
  return {epoch, top1: 0.5 + epoch / 10, top5: 0.9, cfs: 0.1 / epoch, loss: 1 / epoch, lagrangian: 10 / epoch, ucs: 0.5, lambdaMean: 1e-3 * epoch, lambdaUpdated: epoch === 2, lr: 1e-3, seconds};
}

export function runState(c: RunConfig, epochs: number, seconds = 5): RunState {
  return {format: 'cbp-checkpoint', version: 1, config: c, epoch: epochs, progress: Array.from({length: epochs}, (_, i) => runRecord(i + 1, seconds)),
    schedule: {g: 2, ucs: 0.5, sinceUpdate: 0, lagsumPrev: null, lrFactor: 1, lambdaSteps: 1}, backend: 'onnxruntime-cpu'};
}
