import {checkChoice} from '../core/checks';
import {CbpError} from '../core/errors';
import type {Engine, EngineOptions, EngineSettings} from './engine';

/** An option only one engine reads: set on another engine, the run is refused with `refusal`. */
interface OwnedOption {
  /** The value as the user gave it, or undefined when left at its default. */
  readonly given: (s: EngineSettings) => string | undefined;
  /** Why `auto` picks the owner when the option is given. */
  readonly why: (value: string) => string;
  /** The refusal when the option is given to another engine. */
  readonly refusal: (value: string, engine: string) => string;
}

export interface EngineEntry {
  readonly owns: readonly OwnedOption[];
  /** Why `auto` should pick this engine on this machine, when it should (before the default). */
  readonly preferred?: (s: EngineSettings) => string | undefined;
  /** Creates the engine, loading its folder (and only its folder) on first use. */
  readonly create: (common: EngineOptions, s: EngineSettings) => Promise<Engine>;
}

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** Threads of a step: 'auto' or a whole number 1..64 (`--workers`). */
export function checkWorkers(value: number | string): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CbpError(`--workers ${value}: expected 'auto' or a whole number from 1 to 64`, 'BAD_FLAG');
  return n;
}

/**
 * The training engines. `auto` picks, in order: the engine whose own option the run gives (--backend, --workers:
 * tfjs; --device cuda|webgpu|cpu: onnxruntime); an engine that prefers this machine (tfjs with tfjs-node-gpu
 * installed: a GPU); the default, onnxruntime — on the CPU its step runs at ~1.1× PyTorch's, the wasm tfjs
 * engine's at 3.4–4.3× (docs/BENCHMARKS.md).
 */
/** The engines by name, in the order `auto` considers their options. */
export const ENGINE_NAMES = ['onnxruntime', 'tfjs'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export const ENGINE_REGISTRY: Record<EngineName, EngineEntry> = {
  onnxruntime: {
    owns: [
      {
        given: (s) => (s.device === 'auto' ? undefined : s.device),
        why: (v) => `--device ${v} is an ONNX Runtime execution provider`,
        refusal: (v, e) => `--device ${v}: an execution provider of the ONNX Runtime engine, but --engine is ${e}; use --engine onnxruntime or leave --device out`,
      },
    ],
    create: async (common, s) => (await import('./ort/engine')).createOrtEngine({...common, device: s.device, log: s.log}),
  },
  tfjs: {
    owns: [
      {
        given: (s) => (s.backend === 'auto' ? undefined : s.backend),
        why: (v) => `--backend ${v} is a TensorFlow.js backend`,
        refusal: (v, e) => `--backend ${v}: a TensorFlow.js backend, but --engine is ${e}; use --engine tfjs or leave --backend out`,
      },
      {
        given: (s) => (s.workers === 'auto' ? undefined : String(s.workers)),
        why: (v) => `--workers ${v} applies to the TensorFlow.js engine`,
        refusal: (v) => `--workers ${v}: threads of the TensorFlow.js engine; the ONNX Runtime engine runs one thread per physical core (use --engine tfjs or leave --workers out)`,
      },
    ],
    preferred: (s) => (s.device !== 'cuda' && installed('@tensorflow/tfjs-node-gpu') ? '@tensorflow/tfjs-node-gpu is installed (a GPU)' : undefined),
    create: async (common, s) => (await import('./tfjs/engine')).createTfjsOnBackend(common, s),
  },
};

const NAMES = ENGINE_NAMES;
/** The training engines `cbp train --engine` accepts. */
export const ENGINES = ['auto', ...NAMES] as const;
export type EngineChoice = 'auto' | EngineName;
const DEFAULT_ENGINE: EngineName = 'onnxruntime';

export function checkEngine(value: string, flag = '--engine'): EngineChoice {
  return checkChoice(flag, value, ENGINES, 'engine');
}

/**
 * The engine a run uses and why (one line for the log), with every option of another engine refused: an option the
 * chosen engine does not read would be silently ignored.
 */
export function resolveEngine(choice: EngineChoice, s: EngineSettings): {name: EngineName; why: string; entry: EngineEntry} {
  const givenBy = (name: EngineName): {value: string; o: OwnedOption}[] =>
    ENGINE_REGISTRY[name].owns.flatMap((o) => {
      const value = o.given(s);
      return value === undefined ? [] : [{value, o}];
    });
  let picked: {name: EngineName; why: string} | undefined = choice === 'auto' ? undefined : {name: choice, why: `--engine ${choice}`};
  for (const name of NAMES) {
    if (picked !== undefined) break;
    const first = givenBy(name)[0];
    if (first !== undefined) picked = {name, why: first.o.why(first.value)};
  }
  for (const name of NAMES) {
    if (picked !== undefined) break;
    const why = ENGINE_REGISTRY[name].preferred?.(s);
    if (why !== undefined) picked = {name, why};
  }
  picked ??= {name: DEFAULT_ENGINE, why: 'the fastest engine measured on the CPU (docs/BENCHMARKS.md)'};
  for (const other of NAMES) {
    if (other === picked.name) continue;
    const bad = givenBy(other)[0];
    if (bad !== undefined) throw new CbpError(bad.o.refusal(bad.value, picked.name), 'FLAG_CONFLICT');
  }
  return {...picked, entry: ENGINE_REGISTRY[picked.name]};
}
