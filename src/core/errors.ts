/**
 * The stable codes of CbpError, for programs that use the library: a code keeps its meaning across versions.
 * CBP_ERROR is bad input in general; the others name what failed. BAD_FLAG: a flag's or option's value is malformed
 * or out of range (`--lr abc`, `--batch-size 0`); UNKNOWN_CHOICE: a value outside a registry's names (`--model`,
 * `--quant`, `--data`, `--device`, …; the message lists them); UNKNOWN_FLAG: a flag the command does not have (with
 * the nearest one it has); MISSING_FLAG: a required flag or argument not given; FLAG_CONFLICT: flags that do not go
 * together, or a flag that does not apply to the file given; RUN_EXISTS: `--out` names a folder that holds a run
 * (`--force` replaces it); WRONG_FILE: a file of another kind than the command
 * reads (a text file, a safetensors file or a model cbp exported given to `cbp import`; the message says what it
 * is). OVER_BUDGET: a file
 * asks for more objects, bytes or work than the limits in docs/RELIABILITY.md; TIMEOUT: `cbp eval --timeout`
 * expired; BAD_RESULT: a `--merge` input; ONNX_RUNTIME: ONNX Runtime failed while running a model; OUTSIDE_ROOT: a
 * path that leaves the folder `cbp serve` shows; INTERNAL: an error cbp did not foresee, reported by the command
 * wrapper rather than as a stack.
 */
export const ERROR_CODES = [
  'CBP_ERROR',
  'BAD_FLAG',
  'UNKNOWN_CHOICE',
  'UNKNOWN_FLAG',
  'MISSING_FLAG',
  'FLAG_CONFLICT',
  'RUN_EXISTS',
  'WRONG_FILE',
  'BAD_CHECKPOINT',
  'NO_CHECKPOINT',
  'BAD_PTH',
  'FORBIDDEN_GLOBAL',
  'KEY_MISMATCH',
  'SHAPE_MISMATCH',
  'BAD_ONNX',
  'UNSUPPORTED_ONNX',
  'BAD_SAFETENSORS',
  'BAD_FOLDER',
  'BAD_IMAGE',
  'NO_FILE',
  'READ_FAILED',
  'WRITE_FAILED',
  'NO_CUDA',
  'NO_WEBGPU',
  'NON_FINITE_LOSS',
  'EXPORT_MISMATCH',
  'WORKER_FAILED',
  'OVER_BUDGET',
  'TIMEOUT',
  'BAD_RESULT',
  'ONNX_RUNTIME',
  'OUTSIDE_ROOT',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * What an error carries for programs beside its message, where the message can only summarise (`--json` prints it
 * as `error.details`): plain JSON values, names from files already made safe to show.
 */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** The project's own error: every message names the flag, file or key, the value and what was expected. */
export class CbpError extends Error {
  constructor(message: string, readonly code: ErrorCode = 'CBP_ERROR', readonly details?: ErrorDetails) {
    super(message);
    this.name = 'CbpError';
  }
}

export function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/** The message of a thrown value: an Error's, an error-like object's (from a worker or another realm), else its text. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message;
  return String(err);
}

/** The Node error code (ENOENT, MODULE_NOT_FOUND, …) of a thrown value, when it has one. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
