/** The project's own error: every message names the flag, file or key, the value and what was expected. */
export class CbpError extends Error {
  constructor(message: string, readonly code: string = 'CBP_ERROR') {
    super(message);
    this.name = 'CbpError';
  }
}

export function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}
