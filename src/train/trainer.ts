import {afterEpoch, droppedLr, initialSchedule, type ScheduleState} from '../cbp/schedule';
import {CbpError} from '../core/errors';
import {ensureWritableDir} from '../core/atomic';
import type {QuantOrNone} from '../../models/index';
import {readCheckpoint, writeCheckpoint, type EpochRecord, type RunConfig, type RunOrigin, type RunState} from '../run/checkpoint';
import {VERSION} from '../core/version';
import {stepSeed} from '../core/rng';
import type {Engine, EngineOptions, LevelHistogram} from './engine';
import type {Batch} from '../data/imagefolder';
import {startingWeights} from './setup';
import {resolveTrainOptions, type StepProgress, type TrainOptions} from './options';
import {openSource} from '../data/source';
import {clearRun} from './replace';

/**
 * CBP_STEP_TIMES=1 (read by `npm run bench`): an epoch's first step, its later steps' median and the evaluation
 * after it, on stderr, so that a benchmark timing the whole process can tell the run's fixed costs from its steps.
 */
function logStepTimes(stepMs: readonly number[], evalMs: number): void {
  const later = [...stepMs.slice(1)].sort((a, b) => a - b);
  const steady = later.length > 0 ? later[later.length >> 1] : Number.NaN;
  process.stderr.write(`step times: first ${((stepMs[0] ?? Number.NaN) / 1000).toFixed(3)} s, steady median ${(steady / 1000).toFixed(3)} s, evaluation ${(evalMs / 1000).toFixed(3)} s\n`);
}

export interface TrainResult {
  readonly out: string;
  readonly model: string;
  readonly quant: QuantOrNone;
  readonly data: string;
  readonly backend: string;
  readonly epochs: readonly EpochRecord[];
  readonly top1: number;
  readonly top5: number;
  readonly cfs: number;
  readonly histograms: readonly LevelHistogram[];
  readonly seconds: number;
}

/** CBP training (or plain training with quant 'none'), one checkpoint per epoch. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const resumeFrom = opts.resume !== undefined ? readCheckpoint(opts.resume, '--resume') : undefined;
  const run = resolveTrainOptions(opts, resumeFrom, (data, limits, side) =>
    openSource(data, {need: 'train', ...limits, side, onSkip: (_file, why) => log(`warning: skipped ${why}`)}),
  );
  const {config, spec, source: ds, out} = run;
  log(`engine: ${run.engine.name} (${run.engine.why})`);
  const train = ds.train;
  if (train === undefined) throw new Error(`internal: ${ds.name} opened without training images`);
  const weights = startingWeights(run);
  const resumed = run.resumed;
  ensureWritableDir(out, opts.resume !== undefined ? '--resume' : '--out');
  const cbpMethod = (config.method ?? 'cbp') === 'cbp';
  const common: EngineOptions = {spec, quant: config.quant, weights, stored: resumed?.tensors, weightDecay: config.weightDecay, lrLambda: config.lrLambda, constraintTerm: cbpMethod, source: ds};
  const engine = await run.engine.entry.create(common, run.settings);
  // A resumed run keeps the origin it was given; runs from before origins were recorded get one now.
  const origin: RunOrigin = resumed?.state.origin ?? {kind: 'train', version: VERSION, ...(ds.labels.length > 0 ? {labels: ds.labels} : {})};
  const startEpoch = resumed?.state.epoch ?? 0;
  // Cleared only now, when every option has been checked and the engine has started: a refused run loses nothing.
  if (run.replaces !== undefined) log(`--force: replacing the run in ${out} (${run.replaces.summary}): removed ${clearRun(out).join(', ') || 'nothing'}`);
  // Resolving refused fewer epochs than the run has; as many is a finished run, which a repeated --resume may meet.
  if (startEpoch >= config.epochs) {
    log(`${out}: already finished (epoch ${startEpoch} of ${config.epochs}); nothing to do — raise --epochs to train further`);
  } else {
    log(
      `${resumed ? 'resuming' : 'training'} ${spec.name} (${config.quant}) on ${ds.name}: ${train.count} training images, ` +
        `${ds.test.count} test images, batch ${config.batchSize}, epochs ${startEpoch + 1}..${config.epochs}, ` +
        `${engine.constrainedWeights} constrained weights in ${engine.constrainedLayers} layers`,
    );
  }
  let progress: readonly EpochRecord[];
  let final: {top1: number; top5: number; cfs: number; histograms: LevelHistogram[]};
  try {
    progress = await runEpochs(engine, {config, out, startEpoch, schedule: resumed?.state.schedule, progress: resumed?.state.progress ?? [], origin, cbpMethod, steps: Math.ceil(train.count / config.batchSize), testImages: ds.test.count, log, onStep: opts.onStep}, (epoch) => train.epoch(epoch, config.seed).batches(config.batchSize, engine.layout));
    const last = progress.length > 0 ? progress[progress.length - 1] : undefined;
    final = {...(last ?? {...(await engine.evaluate()), cfs: engine.cfs()}), histograms: engine.histograms()};
  } finally {
    await engine.close();
  }
  return {
    out,
    model: spec.name,
    quant: config.quant,
    data: ds.name,
    backend: engine.backend,
    epochs: progress,
    top1: final.top1,
    top5: final.top5,
    cfs: final.cfs,
    histograms: final.histograms,
    seconds: (Date.now() - started) / 1000,
  };
}

interface LoopContext {
  readonly config: RunConfig;
  readonly out: string;
  readonly startEpoch: number;
  /** The stored schedule of a resumed run. */
  readonly schedule?: ScheduleState;
  readonly progress: readonly EpochRecord[];
  readonly origin: RunOrigin;
  readonly cbpMethod: boolean;
  readonly steps: number;
  /** Test images each evaluation runs on, recorded with its top-1. */
  readonly testImages: number;
  readonly log: (line: string) => void;
  readonly onStep?: (p: StepProgress) => void;
}

/**
 * The CBP loop over epochs, the same for every engine: steps on the Lagrangian, then the schedule decides whether λ
 * ascends (g, ucs, the learning-rate drop), the test accuracy and CFS are recorded, and a checkpoint is written.
 */
async function runEpochs(engine: Engine, c: LoopContext, batchesOf: (epoch: number) => AsyncGenerator<Batch>): Promise<EpochRecord[]> {
  const {config, log} = c;
  const constrained = c.cbpMethod && engine.constrainedLayers > 0;
  // STE runs the same schedule for its learning rate — g advancing by the same rule on its loss sum (its Lagrangian,
  // with no constraint term), the ×0.1 drop at g = 20 — so that CBP and STE with the same flags get the same
  // learning rates (with --period 1, both drop after epoch 10); only CBP raises λ and uses ucs.
  const scheduled = engine.constrainedLayers > 0;
  let schedule: ScheduleState = c.schedule ?? initialSchedule();
  if (c.schedule === undefined && constrained) {
    // The reference raises λ once before the first epoch.
    schedule = {...schedule, lambdaSteps: 1};
    engine.ascendLambda(schedule.ucs, 1);
  }
  const progress = [...c.progress];
  let lastCfs = engine.cfs();
  for (let epoch = c.startEpoch; epoch < config.epochs; epoch++) {
    const epochStart = Date.now();
    // Constrained runs: CBP's schedule; full-precision ones: the --lr-drops (none: a constant rate).
    const lr = scheduled ? config.lr * schedule.lrFactor : droppedLr(config.lr, config.lrDrops, epoch);
    let lagsum = 0;
    let losssum = 0;
    let seen = 0;
    let step = -1;
    const stepMs: number[] = [];
    for await (const batch of batchesOf(epoch)) {
      step++;
      if (batch.count < 2) continue; // batch-norm needs two samples
      const stepStart = performance.now();
      const r = await engine.step(batch, schedule.ucs, lr, stepSeed(config.seed, epoch, step));
      stepMs.push(performance.now() - stepStart);
      if (!r.finite) {
        throw new CbpError(
          `training diverged at epoch ${epoch + 1}, step ${step + 1}: loss ${r.loss}, Lagrangian ${r.lagrangian}; ` +
            `the last good checkpoint in ${c.out} is kept (try a lower --lr)`,
          'NON_FINITE_LOSS',
        );
      }
      lagsum += r.lagrangian;
      losssum += r.loss * batch.count;
      seen += batch.count;
      c.onStep?.({epoch: epoch + 1, epochs: config.epochs, step: step + 1, steps: c.steps, loss: r.loss, lagrangian: r.lagrangian, cfs: lastCfs, elapsed: (Date.now() - epochStart) / 1000});
    }
    let lambdaUpdated = false;
    if (scheduled) {
      const decision = afterEpoch(schedule, lagsum, config.period);
      schedule = decision.next;
      if (decision.updateLambda && constrained) {
        engine.ascendLambda(schedule.ucs, schedule.lambdaSteps);
        lambdaUpdated = true;
      }
    }
    const evalStart = performance.now();
    const acc = await engine.evaluate();
    if (process.env.CBP_STEP_TIMES === '1') logStepTimes(stepMs, performance.now() - evalStart);
    lastCfs = engine.cfs();
    const record: EpochRecord = {
      epoch: epoch + 1,
      top1: acc.top1,
      top5: acc.top5,
      cfs: lastCfs,
      loss: losssum / Math.max(seen, 1),
      lagrangian: lagsum,
      ucs: constrained ? schedule.ucs : 0,
      lambdaMean: engine.lambdaMean(),
      lambdaUpdated,
      lr,
      seconds: (Date.now() - epochStart) / 1000,
      testImages: c.testImages,
    };
    progress.push(record);
    const state: RunState = {format: 'cbp-checkpoint', version: 1, config, epoch: epoch + 1, schedule, progress, backend: engine.backend, origin: c.origin};
    writeCheckpoint(c.out, state, engine.state());
    log(
      `epoch ${record.epoch}/${config.epochs}  top1 ${(record.top1 * 100).toFixed(2)}%  top5 ${(record.top5 * 100).toFixed(2)}%  ` +
        `loss ${record.loss.toFixed(4)}  lagrangian-sum ${record.lagrangian.toFixed(3)}  cfs ${record.cfs.toExponential(3)}  ` +
        `ucs ${record.ucs.toFixed(3)}  λ-mean ${record.lambdaMean.toExponential(3)}${lambdaUpdated ? ' (λ updated)' : ''}  ${record.seconds.toFixed(1)}s`,
    );
  }
  return progress;
}
