import {Command, Errors} from '@oclif/core';
import {CbpError} from '../src/index';

/** oclif's own errors (flag parsing, `--help`, exit requests) carry an `oclif` field and are printed as they are. */
function isOclifError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'oclif' in err;
}

/**
 * Turns the library's errors into oclif errors with the exit code 2 for bad input, so messages print cleanly. Any
 * other error is a fault cbp did not foresee: it is still reported as one line naming the command and its
 * arguments (the files it read), with exit code 2 and the code INTERNAL, never as a JavaScript stack;
 * `CBP_DEBUG=1` shows the stack.
 */
export abstract class CbpCommand extends Command {
  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (err instanceof CbpError) {
      return super.catch(new Errors.CLIError(err.message, {exit: 2, code: err.code}));
    }
    if (isOclifError(err)) return super.catch(err);
    if (process.env.CBP_DEBUG === '1') process.stderr.write(`${String(err?.stack ?? err)}\n`);
    const first = String(err?.message ?? err).split('\n')[0].slice(0, 500);
    const what = `cbp ${this.id ?? ''} ${this.argv.join(' ')}`.replace(/\s+/g, ' ').trim().slice(0, 300);
    const name = typeof err?.name === 'string' ? err.name : 'Error';
    return super.catch(new Errors.CLIError(`${what}: failed unexpectedly (${name}: ${first}); this is a bug in cbp, please report it`, {exit: 2, code: 'INTERNAL'}));
  }

  /** Lines meant for people: to stderr, so `--json` output on stdout stays machine-readable. */
  protected note(line: string): void {
    process.stderr.write(line + '\n');
  }
}
