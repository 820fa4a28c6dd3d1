import * as fs from 'node:fs';
import * as path from 'node:path';
import {errorMessage} from '../core/errors';
import {readBytes} from '../core/read';
import {PROGRESS_FILE, STATE_FILE, WEIGHTS_FILE, parseRunState} from './checkpoint';

/** The pictures `cbp train` and `cbp plot` draw into a run folder. */
export const CURVES_FILE = 'curves.png';
export const HISTOGRAM_FILE = 'weights.png';

/** Every file cbp writes into a run folder under a fixed name: the run's own, and the only ones `--force` removes by name. */
export const RUN_FILES = [WEIGHTS_FILE, STATE_FILE, PROGRESS_FILE, CURVES_FILE, HISTOGRAM_FILE] as const;

/** The temporary name writeFileAtomic gives a run file (src/core/atomic.ts), left behind only by a killed write. */
const TEMP_OF_RUN_FILE = new RegExp(`^\\.(${RUN_FILES.map((f) => f.replace(/\./g, '\\.')).join('|')})\\.[0-9a-f]{24}\\.tmp$`);

/** A run a folder already holds, as a refusal or a replacement names it. */
export interface HeldRun {
  /** What the run is, from its state.json: 'lenet5 bin on mnist, epoch 3 of 3'. */
  readonly summary: string;
  /** Completed and planned epochs, when state.json could be read. */
  readonly epoch?: number;
  readonly epochs?: number;
}

/** The largest state.json read to describe a run: a run of MAX_EPOCHS records is well under it. */
const MAX_STATE_BYTES = 64 * 1024 ** 2;

/**
 * The run in `dir`, if it holds one: a checkpoint's weights file or its state.json, the files `cbp train` writes
 * after every epoch (a folder with only pictures or exports holds no run). Undefined when it holds none.
 */
export function heldRun(dir: string): HeldRun | undefined {
  const state = path.join(dir, STATE_FILE);
  if (!fs.existsSync(path.join(dir, WEIGHTS_FILE)) && !fs.existsSync(state)) return undefined;
  try {
    const s = parseRunState(readBytes(state, MAX_STATE_BYTES).toString('utf8'), state);
    return {summary: `${s.config.model} ${s.config.quant} on ${s.config.data}, epoch ${s.epoch} of ${s.config.epochs}`, epoch: s.epoch, epochs: s.config.epochs};
  } catch (err) {
    // A checkpoint whose state.json is missing or damaged is still a run someone may want back.
    return {summary: `its ${STATE_FILE} unreadable: ${errorMessage(err)}`};
  }
}

/**
 * Removes the files cbp writes into a run folder under fixed names (RUN_FILES) and the temporary files of their
 * interrupted writes; nothing else in the folder is touched. Returns the names removed, sorted.
 */
export function removeRunFiles(dir: string): string[] {
  const removed: string[] = [];
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const ours = RUN_FILES.some((f) => f === e.name) || TEMP_OF_RUN_FILE.test(e.name);
    if (!ours || !e.isFile()) continue;
    fs.rmSync(path.join(dir, e.name));
    removed.push(e.name);
  }
  return removed.sort();
}
