import type {Tensor32, Weights} from '../core/weights';
import type {Source} from '../data/source';
import type {ModelSpec, QuantOrNone} from '../../models/spec';
import type {Batch} from '../data/imagefolder';
import type {Layout} from '../data/dataset';
import type {BackendChoice} from '../core/backend-choice';
import type {DeviceChoice} from '../core/ort';
import type {CbpState, LevelHistogram} from '../cbp/state';

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


/** What a training engine computes for one batch, at the weights the CBP state feeds it (`CbpState.fed`). */
export interface BatchResult {
  /** The cross-entropy, mean over the batch. */
  readonly loss: number;
  /** The loss as differentiated (a sharded batch's weighted shares summed): the Lagrangian before Σ λ⊙c(w). */
  readonly weighted: number;
  /**
   * The gradient of a trainable tensor, PyTorch layout. For a constrained layer it is taken at the quantized weights
   * and handed on as the latent weights' (the straight-through estimator's gradient is the identity).
   */
  grad(key: string): Float32Array;
  /** Folds the batch's batch-norm statistics into the running statistics: called once the update is made. */
  keepStatistics(): void;
  /** Frees what the batch holds: called last, whether the step was taken or not. */
  release(): void;
}

/**
 * What only an engine can do: the loss, gradients and batch-norm statistics of a batch, and the logits behind the
 * test accuracy, at the weights the CBP state feeds it. Everything CBP keeps and does between steps is the state's
 * (src/cbp/state.ts); `cbpEngine` joins the two into the Engine the loop drives.
 */
export interface GradientEngine {
  readonly backend: string;
  readonly layout: Layout;
  /** `seed` seeds the step's random draws (dropout masks). */
  gradients(batch: Batch, seed: number): Promise<BatchResult>;
  /** Top-1/top-5 on the test images with the weights the state feeds. */
  evaluate(): Promise<{top1: number; top5: number; images: number}>;
  /** The tensors the engine keeps itself (running statistics, scales), PyTorch layout; views where it can. */
  ownTensors(): Map<string, Tensor32>;
  close(): Promise<void>;
}

/** The Engine of a gradient engine and the CBP state it is fed from: a step is its gradients, then the state's update. */
export function cbpEngine(engine: GradientEngine, cbp: CbpState): Engine {
  return {
    backend: engine.backend,
    layout: engine.layout,
    constrainedLayers: cbp.layers.length,
    constrainedWeights: cbp.constrainedWeights,
    async step(batch, ucs, lr, seed = 0) {
      const r = await engine.gradients(batch, seed);
      try {
        let lagrangian = r.weighted;
        if (Number.isFinite(r.loss) && Number.isFinite(lagrangian)) {
          // The update from the gradients at the weights the step saw, and the next step's quantized weights.
          for (const v of await cbp.update((key) => r.grad(key), ucs, lr)) lagrangian += v;
          r.keepStatistics();
        }
        return {loss: r.loss, lagrangian, finite: Number.isFinite(r.loss) && Number.isFinite(lagrangian)};
      } finally {
        r.release();
      }
    },
    ascendLambda: (ucs, step) => cbp.ascendLambda(ucs, step),
    evaluate: () => engine.evaluate(),
    cfs: () => cbp.cfs(),
    lambdaMean: () => cbp.lambdaMean(),
    histograms: () => cbp.histograms(),
    state: () => new Map([...engine.ownTensors(), ...cbp.tensors()]),
    async close() {
      try {
        await engine.close();
      } finally {
        await cbp.close();
      }
    },
  };
}

/** An option only one engine reads: set on another engine, the run is refused with `refusal`. */
export interface OwnedOption {
  /** The value as the user gave it, or undefined when left at its default. */
  readonly given: (s: EngineSettings) => string | undefined;
  /** Why `auto` picks the owner when the option is given. */
  readonly why: (value: string) => string;
  /** The refusal when the option is given to another engine. */
  readonly refusal: (value: string, engine: string) => string;
}

/**
 * The logits of a model's forward pass at the weights given, images NCHW: the independent side of an export's check
 * (cbp export runs the file's bytes in ONNX Runtime against it). `backend` is the engine's own backend choice.
 */
export type ReferenceForward = (spec: ModelSpec, quant: QuantOrNone, weights: Weights, x: Float32Array, n: number, backend: BackendChoice) => Promise<Float32Array>;

/**
 * One training engine as the registry (registry.ts) lists it: each engine folder exports one from its `entry.ts`,
 * which loads nothing heavy (its engine and library load in `create` and `referenceForward`, on first use).
 */
export interface EngineEntry<N extends string = string> {
  /** The name `--engine` takes. */
  readonly name: N;
  /** The options only this engine reads. */
  readonly owns: readonly OwnedOption[];
  /** Checks of the engine's own options once it is chosen (a combination it refuses), throwing a CbpError. */
  readonly check?: (s: EngineSettings) => void;
  /** Why `auto` should pick this engine on this machine, when it should (before the default). */
  readonly preferred?: (s: EngineSettings) => string | undefined;
  /** Why the engine cannot run a model (training it, or only its forward pass), naming what it lacks; undefined when it can. */
  readonly supports: (spec: ModelSpec, training: boolean) => string | undefined;
  /** Creates the engine, loading its folder (and only its folder) on first use. */
  readonly create: (common: EngineOptions, s: EngineSettings) => Promise<Engine>;
  /** The engine's forward pass as a reference for export checks, where it has one. */
  readonly referenceForward?: ReferenceForward;
}
