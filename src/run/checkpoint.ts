import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError, errorMessage} from '../core/errors';
import {decodeSafetensors, encodeSafetensors} from './safetensors';
import {writeFileAtomic} from '../core/atomic';
import {readBytes} from '../core/read';
import type {Tensor32, Weights} from '../core/weights';
import type {QuantOrNone} from '../../models/spec';
import type {ScheduleState} from '../cbp/schedule';

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
}

export const TRAIN_METHODS = ['cbp', 'ste'] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];

export function checkMethod(value: string, flag = '--method'): TrainMethod {
  const found = TRAIN_METHODS.find((m) => m === value);
  if (found === undefined) throw new CbpError(`${flag} ${value}: unknown method, expected one of ${TRAIN_METHODS.join(', ')}`);
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
  readonly limit: number | null;
  readonly epochs: number;
  readonly init: string | null;
  /** 'cbp' (default), or 'ste': the same quantized forward and clamping without the constraint term (a baseline). */
  readonly method?: TrainMethod;
  /** Channels, height, width of the inputs, when not those of `data` (imported ImageNet models). */
  readonly inputShape?: readonly [number, number, number];
  /** Width of the architecture (its stem's channels) when not the published one. */
  readonly base?: number;
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
}

export const WEIGHTS_FILE = 'weights.safetensors';
export const STATE_FILE = 'state.json';
export const PROGRESS_FILE = 'progress.tsv';
const STATE_KEY = 'cbp.state';

/** Prefixes of the non-model tensors kept in the checkpoint. */
export const LAMBDA_PREFIX = 'cbp.lambda.';
export const LAMBDA_M_PREFIX = 'cbp.lambda_adam_m.';
export const LAMBDA_V_PREFIX = 'cbp.lambda_adam_v.';
export const MOMENTUM_PREFIX = 'optim.momentum.';

export interface Checkpoint {
  readonly dir: string;
  readonly state: RunState;
  /** Everything stored: model tensors under their state_dict names, plus λ and optimizer state under prefixes. */
  readonly tensors: Map<string, Tensor32>;
}

export function modelWeights(tensors: ReadonlyMap<string, Tensor32>): Weights {
  const out: Weights = new Map();
  for (const [k, v] of tensors) if (!k.startsWith('cbp.') && !k.startsWith('optim.')) out.set(k, v);
  return out;
}

/**
 * Writes a checkpoint. The weights file carries the run state in its metadata and is the one authority, so a
 * single atomic rename makes a new checkpoint visible; state.json and progress.tsv are readable copies after it.
 */
export function writeCheckpoint(dir: string, state: RunState, tensors: ReadonlyMap<string, Tensor32>): void {
  try {
    fs.mkdirSync(dir, {recursive: true});
  } catch (err) {
    throw new CbpError(`--out ${dir}: cannot create the folder (${errorMessage(err)})`, 'WRITE_FAILED');
  }
  const json = JSON.stringify(state, null, 2);
  writeFileAtomic(path.join(dir, WEIGHTS_FILE), encodeSafetensors(tensors, {[STATE_KEY]: json}));
  writeFileAtomic(path.join(dir, STATE_FILE), json + '\n');
  writeFileAtomic(path.join(dir, PROGRESS_FILE), progressTsv(state.progress));
}

export function progressTsv(progress: readonly EpochRecord[]): string {
  const cols = ['epoch', 'top1', 'top5', 'cfs', 'loss', 'lagrangian', 'ucs', 'lambda_mean', 'lambda_updated', 'lr', 'seconds'] as const;
  const rows = progress.map((r) =>
    [r.epoch, r.top1, r.top5, r.cfs, r.loss, r.lagrangian, r.ucs, r.lambdaMean, r.lambdaUpdated ? 1 : 0, r.lr, r.seconds].join('\t'),
  );
  return [cols.join('\t'), ...rows].join('\n') + '\n';
}

export function readCheckpoint(dir: string, flag = '--checkpoint'): Checkpoint {
  const file = path.join(dir, WEIGHTS_FILE);
  if (!fs.existsSync(dir)) throw new CbpError(`${flag} ${dir}: no such checkpoint folder`, 'NO_CHECKPOINT');
  if (!fs.existsSync(file)) throw new CbpError(`${flag} ${dir}: no ${WEIGHTS_FILE} in the folder (is it a cbp checkpoint?)`, 'NO_CHECKPOINT');
  const {tensors, metadata} = decodeSafetensors(readBytes(file), file);
  const raw = metadata[STATE_KEY];
  if (raw === undefined) throw new CbpError(`${file}: metadata has no '${STATE_KEY}' entry (not written by cbp)`, 'BAD_CHECKPOINT');
  return {dir, state: parseRunState(raw, file), tensors};
}

/** The run state from its JSON text, checked field by field. */
export function parseRunState(raw: string, file: string): RunState {
  let state: unknown;
  try {
    state = JSON.parse(raw);
  } catch (e) {
    throw new CbpError(`${file}: run state is not JSON (${errorMessage(e)})`, 'BAD_CHECKPOINT');
  }
  return validateState(state, file);
}

function validateState(s: unknown, file: string): RunState {
  // A view for the checks below, which test the type of each field they read.
  const o = s as Partial<RunState> | null;
  if (typeof o !== 'object' || o === null || o.format !== 'cbp-checkpoint' || o.version !== 1) {
    throw new CbpError(`${file}: run state is not a cbp-checkpoint version 1`, 'BAD_CHECKPOINT');
  }
  // As above: the next line tests each field it reads.
  const c = o.config as Partial<RunConfig> | undefined;
  if (typeof c !== 'object' || c === null || typeof c.model !== 'string' || typeof c.quant !== 'string' || typeof c.numClasses !== 'number') {
    throw new CbpError(`${file}: run state lacks config.model, config.quant or config.numClasses`, 'BAD_CHECKPOINT');
  }
  if (!Number.isInteger(o.epoch) || (o.epoch ?? -1) < 0) throw new CbpError(`${file}: run state epoch ${String(o.epoch)} is not a non-negative integer`, 'BAD_CHECKPOINT');
  // As above: the next line tests each field it reads.
  const sc = o.schedule as Partial<ScheduleState> | undefined;
  if (typeof sc !== 'object' || sc === null || typeof sc.g !== 'number' || typeof sc.ucs !== 'number') {
    throw new CbpError(`${file}: run state has no valid schedule`, 'BAD_CHECKPOINT');
  }
  if (!Array.isArray(o.progress)) throw new CbpError(`${file}: run state progress is not a list`, 'BAD_CHECKPOINT');
  // The fields a resume depends on were checked above; the rest are taken as cbp wrote them.
  return o as RunState;
}
