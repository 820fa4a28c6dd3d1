import type {Tensor32, Weights} from '../core/weights';
import type {Source} from '../data/source';
import type {ModelSpec, QuantOrNone} from '../../models/spec';
import type {Batch} from '../data/imagefolder';
import type {Layout} from '../data/dataset';
import type {BackendChoice} from '../core/backend-choice';
import type {DeviceChoice} from '../core/ort';
import type {LevelHistogram} from '../cbp/state';

export type {LevelHistogram};

/**
 * What the CBP loop (trainer.ts) needs from a training engine: one step on a batch, the multipliers' ascent, the
 * test accuracy, the constraint measures and the state a checkpoint stores. The loop itself — epochs, schedule,
 * records, checkpoints, logs — is the same for every engine.
 */
export interface Engine {
  /** The engine and backend, as logged and stored in the checkpoint (`wasm`, `tensorflow`, `cpu`, …). */
  readonly backend: string;
  /** The layout the engine takes batches in. */
  readonly layout: Layout;
  readonly constrainedLayers: number;
  readonly constrainedWeights: number;
  /**
   * One step on the Lagrangian (λ fixed) at this ucs and learning rate; nothing is updated when it is not finite.
   * `seed` seeds the step's random draws (dropout masks; src/core/rng.ts `stepSeed`), 0 when not given.
   */
  step(batch: Batch, ucs: number, lr: number, seed?: number): Promise<StepResult>;
  /** One Adam ascent step of every layer's λ on c(w) at this ucs; `step` is the 1-based count of ascents. */
  ascendLambda(ucs: number, step: number): void;
  /** Top-1/top-5 on the test images with the quantized weights. */
  evaluate(): Promise<{top1: number; top5: number; images: number}>;
  /** Mean c(w) at ucs = 1 over the constrained weights (0 without constraint). */
  cfs(): number;
  /** Mean λ over the constrained weights. */
  lambdaMean(): number;
  histograms(): LevelHistogram[];
  /**
   * Weights, momentum and λ with its Adam state, named and laid out as a checkpoint stores them: views of the
   * engine's own arrays where it keeps them in JavaScript (the next step or λ ascent changes them; copy to keep).
   */
  state(): Map<string, Tensor32>;
  close(): Promise<void>;
}

/** What every engine starts from: the model, its weights, a resumed run's optimizer state, the CBP settings, the data. */
export interface EngineOptions {
  readonly spec: ModelSpec;
  readonly quant: QuantOrNone;
  readonly weights: Weights;
  /** Momentum and λ state of a resumed run (zero when absent). */
  readonly stored?: ReadonlyMap<string, Tensor32>;
  readonly weightDecay: number;
  readonly lrLambda: number;
  /** Add Σ λ⊙c(w) to the loss (CBP); false trains the straight-through baseline. */
  readonly constraintTerm: boolean;
  readonly source: Source;
}

export interface StepResult {
  readonly loss: number;
  readonly lagrangian: number;
  /** False when the loss or Lagrangian was not finite; nothing was updated then. */
  readonly finite: boolean;
}

/** What a run asks of the engines beyond the model and data: each option belongs to one engine (`owns` in registry.ts). */
export interface EngineSettings {
  readonly backend: BackendChoice;
  /** Threads sharing each step ('auto' or a count). */
  readonly workers: number | 'auto';
  readonly device: DeviceChoice;
  readonly batchSize: number;
  readonly log: (line: string) => void;
}

