import {CbpError} from './errors';

/** The tfjs backends a user may ask for; kept apart from backend.ts so choosing one loads no TensorFlow.js. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export function checkBackend(value: string, flag = '--backend'): BackendChoice {
  const found = BACKEND_CHOICES.find((b) => b === value);
  if (found === undefined) throw new CbpError(`${flag} ${value}: unknown backend, expected one of ${BACKEND_CHOICES.join(', ')}`, 'UNKNOWN_CHOICE');
  return found;
}

/**
 * `--workers N` (N > 1) on the tensorflow backend, which already uses every core, is refused: by resolving a run's
 * options when `--backend tensorflow` is given, and by the tfjs engine when `--backend auto` finds that backend.
 */
export function checkWorkersOnBackend(workers: number | 'auto', backend: string): void {
  if (workers !== 'auto' && workers > 1 && backend === 'tensorflow') {
    throw new CbpError(`--workers ${workers}: the tensorflow backend already uses every core; use --workers 1 or auto with it`);
  }
}
