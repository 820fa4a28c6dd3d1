import {Command, Errors} from '@oclif/core';
import {terminalSafe} from '../src/index';
import {failureOf, isExitRequest} from './failure';

/**
 * Every failure ends with exit code 2 and one code (failureOf): with `--json`, as a small JSON object on stdout,
 * {error: {code, message, exitCode[, details]}}, and the same exit code (oclif's own JSON error would exit 1 and carry its whole
 * configuration, local paths included); without, as oclif prints an error, without the help text it adds to parse
 * errors. `CBP_DEBUG=1` shows the stack of an error cbp did not foresee.
 */
export abstract class CbpCommand extends Command {
  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (isExitRequest(err)) return super.catch(err);
    const found = failureOf(err, {id: this.id ?? '', argv: this.argv, flags: this.ctor.flags});
    const failure = {...found, message: terminalSafe(found.message)};
    if (failure.code === 'INTERNAL' && process.env.CBP_DEBUG === '1') process.stderr.write(`${String(err?.stack ?? err)}\n`);
    if (this.jsonEnabled()) {
      process.exitCode = failure.exitCode;
      this.logJson({error: failure});
      return undefined;
    }
    return super.catch(new Errors.CLIError(failure.message, {exit: failure.exitCode, code: failure.code}));
  }

  /** Lines meant for people: to stderr, so `--json` output on stdout stays machine-readable. */
  protected note(line: string): void {
    process.stderr.write(terminalSafe(line) + '\n');
  }

  /** Every line of a command's report, with what it quotes from files made safe for the terminal. */
  public override log(message = '', ...args: unknown[]): void {
    super.log(terminalSafe(message), ...args.map((a) => (typeof a === 'string' ? terminalSafe(a) : a)));
  }
}
