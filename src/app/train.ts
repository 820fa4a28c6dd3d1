import type {TrainOptions} from '../train/options';
import type {TrainResult} from '../train/trainer';
import {plotRun, type PlotResult} from './plot';

export interface TrainRunOptions extends TrainOptions {
  /** Draw curves.png and weights.png into the run folder at the end (default true, as `cbp train` does). */
  readonly plot?: boolean;
}

/**
 * CBP training as `cbp train` runs it (see TrainOptions and TRAIN_DEFAULTS), then the run's plots. The trainer,
 * and with it TensorFlow.js where a run uses it, loads on the first call, not when the library is required.
 */
export async function trainRun(opts: TrainRunOptions): Promise<TrainResult & {plots?: PlotResult}> {
  const result = await (await import('../train/trainer')).train(opts);
  if (opts.plot === false || result.epochs.length === 0) return result;
  return {...result, plots: await plotRun(result.out)};
}
