import {CbpError} from '../core/errors';
import type {ModelSpec, QuantOrNone} from '../../models/spec';
import type {ScheduleState} from '../cbp/schedule';

/** The run format's records and names, apart from its reading and writing so that the schema can use them. */

export interface EpochRecord {
  readonly epoch: number;
  readonly top1: number;
  readonly top5: number;
  readonly cfs: number;
  readonly loss: number;
  readonly lagrangian: number;
  readonly ucs: number;
  readonly lambdaMean: number;
  readonly lambdaUpdated: boolean;
  readonly lr: number;
  readonly seconds: number;
  /** How many test images top1 and top5 were measured on; absent in records from before cbp kept it. */
  readonly testImages?: number;
}

export const TRAIN_METHODS = ['cbp', 'ste'] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];

export function checkMethod(value: string, flag = '--method'): TrainMethod {
  const found = TRAIN_METHODS.find((m) => m === value);
  if (found === undefined) throw new CbpError(`${flag} ${value}: unknown method, expected one of ${TRAIN_METHODS.join(', ')}`, 'UNKNOWN_CHOICE');
  return found;
}

export interface RunConfig {
  readonly model: string;
  readonly quant: QuantOrNone;
  readonly data: string;
  readonly numClasses: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly lrLambda: number;
  readonly weightDecay: number;
  readonly period: number;
  /** `--limit`: training images used (null: all of them). */
  readonly limit: number | null;
  /** `--test-limit`: test images each epoch is evaluated on; absent: all of them (and in runs from before it was kept). */
  readonly testLimit?: number;
  readonly epochs: number;
  readonly init: string | null;
  /** 'cbp' (default), or 'ste': the same quantized forward and clamping without the constraint term (a baseline). */
  readonly method?: TrainMethod;
  /** Channels, height, width of the inputs, when not those of `data` (imported ImageNet models). */
  readonly inputShape?: readonly [number, number, number];
  /** Width of the architecture (its stem's channels) when not the published one. */
  readonly base?: number;
  /** Full-precision runs: the epochs after which the learning rate drops ×0.1 (CBP's schedule governs the others). */
  readonly lrDrops?: readonly number[];
  /**
   * The architecture itself, for a model imported from an ONNX file (`cbp import MODEL.onnx`): `model` is then its
   * name (the file's stem) and this spec, not the registry, says what it is. Absent for cbp's own models.
   */
  readonly spec?: ModelSpec;
}

/**
 * Where a checkpoint's weights came from, for the model card an export writes (docs/FORMAT.md). Only facts: a
 * field is absent when cbp was not told it. Checkpoints written before cbp recorded it have no origin.
 */
export interface RunOrigin {
  /** 'train': made by `cbp train` as `config` records; 'import': read from a PyTorch or ONNX file. */
  readonly kind: 'train' | 'import';
  /** The cbp version that made the checkpoint. */
  readonly version: string;
  /** Class names in output order: the data set's, the image folder's class folders, or `--labels`. */
  readonly labels?: readonly string[];
  /** import: the file as given, its SHA-256 and its format (a .pth's zip or legacy container, or ONNX). */
  readonly file?: string;
  readonly sha256?: string;
  readonly format?: 'zip' | 'legacy' | 'onnx';
  /** import: what `--data` said the weights were trained on (imagenet, a built-in set or a folder). */
  readonly data?: string;
}

export interface RunState {
  readonly format: 'cbp-checkpoint';
  readonly version: 1;
  readonly config: RunConfig;
  /** Epochs completed. */
  readonly epoch: number;
  readonly schedule: ScheduleState;
  readonly progress: readonly EpochRecord[];
  readonly backend: string;
  readonly origin?: RunOrigin;
}

/**
 * The config of an imported run (a .pth or an ONNX file): what the import was told or read, with no epoch trained
 * and the training settings a later `cbp train --init` of it starts from unless it is given others.
 */
export function importedConfig(c: Pick<RunConfig, 'model' | 'quant' | 'data' | 'numClasses' | 'init' | 'inputShape' | 'base' | 'spec'>): RunConfig {
  return {seed: 0, batchSize: 256, lr: 1e-3, lrLambda: 1e-4, weightDecay: 1e-4, period: 20, limit: null, epochs: 0, ...c};
}

/** Prefixes of the non-model tensors kept in the checkpoint. */
export const LAMBDA_PREFIX = 'cbp.lambda.';
export const LAMBDA_M_PREFIX = 'cbp.lambda_adam_m.';
export const LAMBDA_V_PREFIX = 'cbp.lambda_adam_v.';
export const MOMENTUM_PREFIX = 'optim.momentum.';

