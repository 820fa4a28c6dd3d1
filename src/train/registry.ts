import {checkChoice} from '../core/checks';
import {CbpError} from '../core/errors';
import type {EngineEntry, EngineSettings, OwnedOption} from './engine';
import {ortEntry} from './ort/entry';
import {tfjsEntry} from './tfjs/entry';

export type {EngineEntry};
export {checkWorkers} from './tfjs/entry';

/**
 * The training engines, in the order `auto` considers their options: each engine folder exports one entry
 * (`entry.ts`), and adding an engine is its folder plus one line here. `auto` picks, in order: the engine whose own
 * option the run gives (--backend, --workers: tfjs; --device cuda|webgpu|cpu: onnxruntime); an engine that prefers
 * this machine (tfjs with tfjs-node-gpu installed: a GPU); the default, onnxruntime — on the CPU its step runs at
 * ~1.1× PyTorch's, the wasm tfjs engine's at 3.4–4.3× (docs/BENCHMARKS.md).
 */
const ENTRIES = [ortEntry, tfjsEntry] as const;

export type EngineName = (typeof ENTRIES)[number]['name'];
/** The engines by name, in the order `auto` considers their options. */
export const ENGINE_NAMES: readonly EngineName[] = ENTRIES.map((e) => e.name);
/** The training engines `cbp train --engine` accepts. */
export const ENGINES: readonly ('auto' | EngineName)[] = ['auto', ...ENGINE_NAMES];
export type EngineChoice = 'auto' | EngineName;
const DEFAULT_ENGINE: EngineName = 'onnxruntime';

/** The entry of an engine by name. */
export function engineEntry(name: EngineName): EngineEntry<EngineName> {
  const entry = ENTRIES.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`internal: no engine ${name}`);
  return entry;
}

export function checkEngine(value: string, flag = '--engine'): EngineChoice {
  return checkChoice(flag, value, ENGINES, 'engine');
}

/**
 * The engine a run uses and why (one line for the log), with every option of another engine refused: an option the
 * chosen engine does not read would be silently ignored.
 */
export function resolveEngine(choice: EngineChoice, s: EngineSettings): {name: EngineName; why: string; entry: EngineEntry<EngineName>} {
  const givenBy = (entry: EngineEntry): {value: string; o: OwnedOption}[] =>
    entry.owns.flatMap((o) => {
      const value = o.given(s);
      return value === undefined ? [] : [{value, o}];
    });
  let picked: {name: EngineName; why: string} | undefined = choice === 'auto' ? undefined : {name: choice, why: `--engine ${choice}`};
  for (const entry of ENTRIES) {
    if (picked !== undefined) break;
    const first = givenBy(entry)[0];
    if (first !== undefined) picked = {name: entry.name, why: first.o.why(first.value)};
  }
  for (const entry of ENTRIES) {
    if (picked !== undefined) break;
    const why = entry.preferred?.(s);
    if (why !== undefined) picked = {name: entry.name, why};
  }
  picked ??= {name: DEFAULT_ENGINE, why: 'the fastest engine measured on the CPU (docs/BENCHMARKS.md)'};
  for (const other of ENTRIES) {
    if (other.name === picked.name) continue;
    const bad = givenBy(other)[0];
    if (bad !== undefined) throw new CbpError(bad.o.refusal(bad.value, picked.name), 'FLAG_CONFLICT');
  }
  return {...picked, entry: engineEntry(picked.name)};
}
