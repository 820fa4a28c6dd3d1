import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError, errorMessage} from '../core/errors';
import {decodeSafetensors, safetensorsParts} from './safetensors';
import {writeFileAtomic} from '../core/atomic';
import {readBytes} from '../core/read';
import type {Tensor32, Weights} from '../core/weights';
import {validateState} from './state-schema';
import {checkTensors} from './check-tensors';
import {LAMBDA_M_PREFIX, LAMBDA_PREFIX, LAMBDA_V_PREFIX, MOMENTUM_PREFIX, TRAIN_METHODS, checkMethod, type EpochRecord, type RunConfig, type RunOrigin, type RunState, type TrainMethod} from './format';

export {LAMBDA_M_PREFIX, LAMBDA_PREFIX, LAMBDA_V_PREFIX, MOMENTUM_PREFIX, TRAIN_METHODS, checkMethod, type EpochRecord, type RunConfig, type RunOrigin, type RunState, type TrainMethod};

export const WEIGHTS_FILE = 'weights.safetensors';
export const STATE_FILE = 'state.json';
export const PROGRESS_FILE = 'progress.tsv';
const STATE_KEY = 'cbp.state';

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
  writeFileAtomic(path.join(dir, WEIGHTS_FILE), safetensorsParts(tensors, {[STATE_KEY]: json}));
  writeFileAtomic(path.join(dir, STATE_FILE), json + '\n');
  writeFileAtomic(path.join(dir, PROGRESS_FILE), progressTsv(state.progress));
}

function progressTsv(progress: readonly EpochRecord[]): string {
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
  const raw = Object.prototype.hasOwnProperty.call(metadata, STATE_KEY) ? metadata[STATE_KEY] : undefined;
  if (raw === undefined) throw new CbpError(`${file}: metadata has no '${STATE_KEY}' entry (not written by cbp)`, 'BAD_CHECKPOINT');
  const state = parseRunState(raw, file);
  checkTensors(state.config, tensors, file);
  return {dir, state, tensors};
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
