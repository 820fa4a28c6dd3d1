import {CbpError} from './errors';

/** The tfjs backends a user may ask for; kept apart from backend.ts so choosing one loads no TensorFlow.js. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export function checkBackend(value: string, flag = '--backend'): BackendChoice {
  const found = BACKEND_CHOICES.find((b) => b === value);
  if (found === undefined) throw new CbpError(`${flag} ${value}: unknown backend, expected one of ${BACKEND_CHOICES.join(', ')}`, 'UNKNOWN_CHOICE');
  return found;
}
