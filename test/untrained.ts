import {DATASET_FACTS, type DatasetName} from '../src/data/index';
import {initialWeights} from '../src/train/init';
import {initialSchedule} from '../src/cbp/schedule';
import {writeCheckpoint, type RunState} from '../src/run/checkpoint';
import {specOf} from '../src/run/spec-of';
import {VERSION} from '../src/core/version';
import type {ModelName} from '../models/index';
import type {QuantOrNone} from '../models/spec';

/**
 * A checkpoint of untrained weights with the run state and origin `cbp train` writes, for tests about files
 * (cards, runtimes, shards) where accuracy does not matter and training would only cost time.
 */
export function untrainedRun(dir: string, model: ModelName, quant: QuantOrNone, data: DatasetName): string {
  const facts = DATASET_FACTS[data];
  const config = {model, quant, data, numClasses: facts.numClasses, seed: 1, batchSize: 64, lr: 1e-3, lrLambda: 1e-4, weightDecay: 1e-4, period: 20, limit: null, epochs: 1, init: null};
  const spec = specOf(config, facts.shape);
  const state: RunState = {format: 'cbp-checkpoint', version: 1, config, epoch: 0, schedule: initialSchedule(), progress: [], backend: 'untrained', origin: {kind: 'train', version: VERSION, labels: facts.labels}};
  writeCheckpoint(dir, state, initialWeights(spec, quant, 1));
  return dir;
}
