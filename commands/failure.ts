import {CbpError, type ErrorCode, type ErrorDetails} from '../src/index';
import {nearest} from './suggest';

/** A failed command as it is reported: one code, a message of a few lines, and the exit code (2, always). */
export interface Failure {
  readonly code: ErrorCode;
  readonly message: string;
  readonly exitCode: number;
  /** What the error carries beyond its message (every node an import refused), for `--json`. */
  readonly details?: ErrorDetails;
}

/** What a failure report needs to know of the command that failed. */
export interface FailedCommand {
  readonly id: string;
  readonly argv: readonly string[];
  readonly flags: Readonly<Record<string, {readonly allowNo?: boolean; readonly char?: string; readonly description?: string}>>;
}

export const EXIT_FAILURE = 2;

/** oclif's errors (flag parsing, exit requests) carry an `oclif` field. */
export function isOclifError(err: unknown): err is Error & {oclif: object} {
  return err instanceof Error && 'oclif' in err;
}

/** oclif's request to exit (`this.exit()`), which is no failure to report. */
export const isExitRequest = (err: unknown): boolean => isOclifError(err) && 'code' in err && err.code === 'EEXIT';

/** oclif appends this to its parse errors and prefixes a flag's own parse error with "Parsing --flag". */
const OCLIF_HINT = /\n?See more help with --help\s*$/;
const OCLIF_PARSING = /^Parsing --\S+ \n\t/;

/** Every spelling of the command's flags, for "did you mean": --name, --no-name where allowed, -c. */
function spellings(flags: FailedCommand['flags']): string[] {
  return Object.entries(flags).flatMap(([name, f]) => [`--${name}`, ...(f.allowNo === true ? [`--no-${name}`] : []), ...(f.char !== undefined ? [`-${f.char}`] : [])]);
}

/** A flag the command does not have: one line each, with the nearest flag it has. */
function unknownFlags(given: readonly string[], cmd: FailedCommand): string {
  const names = [...spellings(cmd.flags), '--help', '-h'];
  return given
    .map((flag) => {
      const near = nearest(flag.replace(/=.*$/, ''), names);
      return `Unknown flag ${flag}${near !== undefined ? `; did you mean ${near}?` : ''}`;
    })
    .join('\n');
}

/** The error of a parse that oclif reports (unknown flag, missing flag or argument, a flag without its value). */
function parseFailure(err: Error, cmd: FailedCommand): {code: ErrorCode; message: string} {
  if ('flags' in err && Array.isArray(err.flags) && /^Nonexistent flag/.test(err.message)) {
    return {code: 'UNKNOWN_FLAG', message: unknownFlags(err.flags.map(String), cmd)};
  }
  const missingFlags = [...err.message.matchAll(/Missing required flag (\S+)/g)].map((m) => `--${m[1]}: not given; required: ${cmd.flags[m[1]]?.description ?? 'see the help'}`);
  if (missingFlags.length > 0) return {code: 'MISSING_FLAG', message: missingFlags.join('\n')};
  if ('args' in err && Array.isArray(err.args) && /^Missing \d+ required arg/.test(err.message)) {
    const args: unknown[] = err.args;
    const lines = args.map((a) => (typeof a === 'object' && a !== null && 'name' in a ? `${String(a.name).toUpperCase()}: not given; required: ${'description' in a ? String(a.description) : 'see the help'}` : ''));
    return {code: 'MISSING_FLAG', message: lines.filter((l) => l !== '').join('\n')};
  }
  return {code: 'BAD_FLAG', message: err.message.replace(OCLIF_HINT, '').trim()};
}

/**
 * Any error a command ends with, as the user sees it. The library's errors keep their code and message (a flag's
 * parse error loses oclif's "Parsing --flag" prefix: the message names the flag already); oclif's parse errors get
 * a code and one line instead of the whole help; anything else is a fault cbp did not foresee, reported as one line
 * naming the command and its arguments (the files it read), with the code INTERNAL, never as a JavaScript stack.
 * Bad input ends with `See cbp COMMAND --help`.
 */
export function failureOf(err: unknown, cmd: FailedCommand): Failure {
  const seeHelp = `\nSee cbp ${cmd.id.replace(/:/g, ' ')} --help`;
  if (err instanceof CbpError) {
    const fromFlag = OCLIF_PARSING.test(err.message);
    const message = err.message.replace(OCLIF_PARSING, '').replace(OCLIF_HINT, '');
    return {code: err.code, message: fromFlag ? message + seeHelp : message, exitCode: EXIT_FAILURE, ...(err.details !== undefined ? {details: err.details} : {})};
  }
  if (isOclifError(err)) {
    const {code, message} = parseFailure(err, cmd);
    return {code, message: message + seeHelp, exitCode: EXIT_FAILURE};
  }
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 500);
  const what = `cbp ${cmd.id} ${cmd.argv.join(' ')}`.replace(/\s+/g, ' ').trim().slice(0, 300);
  const name = err instanceof Error ? err.name : 'Error';
  return {code: 'INTERNAL', message: `${what}: failed unexpectedly (${name}: ${first}); this is a bug in cbp, please report it`, exitCode: EXIT_FAILURE};
}
