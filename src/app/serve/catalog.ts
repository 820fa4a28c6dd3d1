import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError, errorMessage} from '../../core/errors';
import {readText} from '../../core/read';
import {PROGRESS_FILE, STATE_FILE, WEIGHTS_FILE, parseRunState, type RunConfig, type RunState} from '../../run/checkpoint';
import type {ServedRoot} from './paths';

/** Folders below RUNS_DIR that the listing descends into, and directory entries it looks at, at most. */
export const MAX_DEPTH = 8;
export const MAX_ENTRIES = 50_000;

export type RunStatus = 'running' | 'finished' | 'stopped';

export interface RunSummary {
  /** Relative to RUNS_DIR, '/'-separated. */
  readonly path: string;
  /** null when state.json cannot be read; `error` says why. */
  readonly status: RunStatus | null;
  readonly error?: string;
  readonly config?: RunConfig;
  readonly epoch: number;
  readonly epochs: number;
  readonly top1: number | null;
  readonly cfs: number | null;
  /** Milliseconds since 1970 of the newest of the run's files. */
  readonly lastWrite: number;
}

export interface ModelSummary {
  readonly path: string;
  readonly bytes: number;
  readonly lastWrite: number;
}

export interface Catalog {
  readonly runs: readonly RunSummary[];
  readonly models: readonly ModelSummary[];
  /** True when the listing stopped at MAX_DEPTH or MAX_ENTRIES. */
  readonly truncated: boolean;
}

/**
 * How a run stands: finished once it has completed its configured epochs; otherwise running while its files keep
 * changing, stopped when they have been still for longer than an epoch of it should take. `cbp train` writes only
 * at the end of an epoch, so "an epoch" is three times its longest recorded one, and at least a minute.
 */
export function runStatus(state: RunState, lastWrite: number, now: number): RunStatus {
  if (state.epoch >= state.config.epochs) return 'finished';
  let longest = 0;
  for (const r of state.progress) longest = Math.max(longest, r.seconds);
  return now - lastWrite <= Math.max(60, 3 * longest) * 1000 ? 'running' : 'stopped';
}

function mtimeOf(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The newest modification time of a run's three files (a copy written after the weights, or the weights alone). */
export function lastWriteOf(dir: string): number {
  return Math.max(...[STATE_FILE, PROGRESS_FILE, WEIGHTS_FILE].map((f) => mtimeOf(path.join(dir, f))));
}

/**
 * Lists runs (folders with a state.json) and ONNX models below the root. Symlinks are not followed, so nothing
 * outside the root is listed; hidden folders and node_modules are skipped. Each state.json is parsed through the
 * run-state schema once per change (cached by size and time), since the listing is repeated every second while a
 * page is open.
 */
export class Cataloguer {
  private readonly states = new Map<string, {key: string; state: RunState | CbpError}>();

  constructor(private readonly root: ServedRoot) {}

  scan(now = Date.now()): Catalog {
    const runs: RunSummary[] = [];
    const models: ModelSummary[] = [];
    let entries = 0;
    let truncated = false;
    const seen = new Set<string>();
    const stack: {dir: string; depth: number}[] = [{dir: this.root.real, depth: 0}];
    while (stack.length > 0) {
      const next = stack.pop();
      if (next === undefined) break;
      let list: fs.Dirent[];
      try {
        list = fs.readdirSync(next.dir, {withFileTypes: true});
      } catch {
        continue;
      }
      list.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
      for (const e of list) {
        if (++entries > MAX_ENTRIES) {
          truncated = true;
          break;
        }
        const full = path.join(next.dir, e.name);
        if (e.isFile() && e.name === STATE_FILE) {
          seen.add(full);
          runs.push(this.summary(next.dir, full, now));
        } else if (e.isFile() && e.name.endsWith('.onnx')) {
          const st = fs.statSync(full, {throwIfNoEntry: false});
          if (st) models.push({path: this.root.relative(full), bytes: st.size, lastWrite: st.mtimeMs});
        } else if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') {
          if (next.depth + 1 > MAX_DEPTH) truncated = true;
          else stack.push({dir: full, depth: next.depth + 1});
        }
      }
      if (entries > MAX_ENTRIES) break;
    }
    for (const k of this.states.keys()) if (!seen.has(k)) this.states.delete(k);
    const byPath = (a: {path: string}, b: {path: string}): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    return {runs: runs.sort(byPath), models: models.sort(byPath), truncated};
  }

  private summary(dir: string, stateFile: string, now: number): RunSummary {
    const rel = this.root.relative(dir) || '.';
    const lastWrite = lastWriteOf(dir);
    const st = fs.statSync(stateFile, {throwIfNoEntry: false});
    const key = `${st?.size}:${st?.mtimeMs}`;
    let cached = this.states.get(stateFile);
    if (cached?.key !== key) {
      let state: RunState | CbpError;
      try {
        state = parseRunState(readText(stateFile), stateFile);
      } catch (err) {
        state = err instanceof CbpError ? err : new CbpError(`${stateFile}: ${errorMessage(err)}`, 'BAD_CHECKPOINT');
      }
      cached = {key, state};
      this.states.set(stateFile, cached);
    }
    const s = cached.state;
    if (s instanceof CbpError) return {path: rel, status: null, error: s.message, epoch: 0, epochs: 0, top1: null, cfs: null, lastWrite};
    const last = s.progress[s.progress.length - 1];
    return {
      path: rel,
      status: runStatus(s, lastWrite, now),
      config: s.config,
      epoch: s.epoch,
      epochs: s.config.epochs,
      top1: last?.top1 ?? null,
      cfs: s.config.quant === 'none' ? null : (last?.cfs ?? null),
      lastWrite,
    };
  }
}
