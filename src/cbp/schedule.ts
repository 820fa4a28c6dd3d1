/**
 * The CBP schedule, free of tensors: after each epoch, decide from the epoch's Lagrangian sum whether the
 * multipliers ascend; when they do, g grows (+1 up to 10, then +10), ucs = 1 − 1/g, and at g = 20 the learning
 * rate drops ×0.1.
 */
export interface ScheduleState {
  g: number;
  ucs: number;
  /** Epochs since the last multiplier update. */
  sinceUpdate: number;
  /** The previous epoch's Lagrangian sum, or null right after an update (the reference uses 1e10). */
  lagsumPrev: number | null;
  /** Factor on the base learning rate (1, then 0.1 from g = 20). */
  lrFactor: number;
  /** Number of multiplier ascent steps taken (Adam's step count). */
  lambdaSteps: number;
}

export function initialSchedule(): ScheduleState {
  return {g: 1, ucs: 0, sinceUpdate: 0, lagsumPrev: null, lrFactor: 1, lambdaSteps: 0};
}

export interface EpochDecision {
  readonly next: ScheduleState;
  readonly updateLambda: boolean;
}

export function afterEpoch(state: ScheduleState, lagsum: number, period: number): EpochDecision {
  const since = state.sinceUpdate + 1;
  const stalled = state.lagsumPrev !== null && lagsum >= state.lagsumPrev;
  if (!stalled && since !== period) {
    return {next: {...state, sinceUpdate: since, lagsumPrev: lagsum}, updateLambda: false};
  }
  const g = state.g < 10 ? state.g + 1 : state.g + 10;
  return {
    next: {
      g,
      ucs: 1 - 1 / g,
      sinceUpdate: 0,
      lagsumPrev: null,
      lrFactor: g === 20 ? state.lrFactor * 0.1 : state.lrFactor,
      lambdaSteps: state.lambdaSteps + 1,
    },
    updateLambda: true,
  };
}

/**
 * The learning rate of a full-precision run after `finished` epochs: the base rate, ×0.1 for each epoch in `drops`
 * that has been completed (drops [15, 25]: epochs 1–15 at the base rate, 16–25 at a tenth, then a hundredth).
 */
export function droppedLr(base: number, drops: readonly number[] | undefined, finished: number): number {
  let lr = base;
  for (const d of drops ?? []) if (d <= finished) lr *= 0.1;
  return lr;
}
