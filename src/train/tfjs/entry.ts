import {checkWorkersOnBackend} from '../../core/backend-choice';
import {CbpError} from '../../core/errors';
import {tfjsRefusal} from '../../../models/spec';
import type {EngineEntry} from '../engine';

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
 * The TensorFlow.js engine: the network in tfjs variables with hand-written gradients, on the tensorflow, wasm or cpu
 * backend. It owns `--backend` and `--workers`, runs the node kinds that have a tfjs implementation, and its forward
 * pass is the reference an export is checked against. TensorFlow.js loads (tf.ts) only in `create` and
 * `referenceForward`.
 */
export const tfjsEntry: EngineEntry<'tfjs'> = {
  name: 'tfjs',
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
  check: (s) => checkWorkersOnBackend(s.workers, s.backend),
  preferred: (s) => (s.device !== 'cuda' && installed('@tensorflow/tfjs-node-gpu') ? '@tensorflow/tfjs-node-gpu is installed (a GPU)' : undefined),
  supports: (spec, training) => tfjsRefusal(spec, training),
  create: async (common, s) => (await import('./engine')).createTfjsOnBackend(common, s),
  referenceForward: async (spec, quant, weights, x, n, backend) => (await import('./forward')).tfjsLogits(spec, quant, weights, x, n, backend),
};
