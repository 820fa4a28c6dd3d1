import {checkChoice} from '../core/checks';
import type {BackendChoice} from '../core/backend-choice';

/** The training engines `cbp train --engine` accepts. */
export const ENGINES = ['auto', 'onnxruntime', 'tfjs'] as const;
export type EngineChoice = (typeof ENGINES)[number];
export type EngineName = Exclude<EngineChoice, 'auto'>;

export function checkEngine(value: string, flag = '--engine'): EngineChoice {
  return checkChoice(flag, value, ENGINES, 'engine');
}

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/**
 * The engine a run uses and why, in one line for the log. `auto`, in order:
 * 1. tfjs when the run names a tfjs option (--backend other than auto, or a --workers count): the user asked for it;
 * 2. tfjs when @tensorflow/tfjs-node-gpu is installed and no ONNX Runtime CUDA provider was asked for: a GPU;
 * 3. onnxruntime otherwise: on the CPU its step runs at ~1.1× PyTorch's, the wasm tfjs engine's at 3.4–4.3×
 *    (docs/BENCHMARKS.md).
 */
export function chooseEngine(choice: EngineChoice, o: {backend: BackendChoice; workers?: number | string; device: string}): {engine: EngineName; why: string} {
  if (choice !== 'auto') return {engine: choice, why: `--engine ${choice}`};
  if (o.backend !== 'auto') return {engine: 'tfjs', why: `--backend ${o.backend} is a TensorFlow.js backend`};
  if (o.workers !== undefined && o.workers !== 'auto') return {engine: 'tfjs', why: `--workers ${o.workers} applies to the TensorFlow.js engine`};
  if (o.device !== 'cuda' && installed('@tensorflow/tfjs-node-gpu')) return {engine: 'tfjs', why: '@tensorflow/tfjs-node-gpu is installed (a GPU)'};
  return {engine: 'onnxruntime', why: 'the fastest engine measured on the CPU (docs/BENCHMARKS.md)'};
}
