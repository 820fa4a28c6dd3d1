import {Command, Errors} from '@oclif/core';
import {CbpError} from '../src/core/errors';

/** Turns the library's errors into oclif errors with the exit code 2 for bad input, so messages print cleanly. */
export abstract class CbpCommand extends Command {
  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (err instanceof CbpError) {
      return super.catch(new Errors.CLIError(err.message, {exit: 2, code: err.code}));
    }
    return super.catch(err);
  }

  /** Lines meant for people: to stderr, so `--json` output on stdout stays machine-readable. */
  protected note(line: string): void {
    process.stderr.write(line + '\n');
  }
}
