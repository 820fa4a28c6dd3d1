import {spawnSync} from 'node:child_process';
import * as path from 'node:path';
import {ROOT} from './helpers';

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `cbp` binary, as a user would, and returns what it printed. */
export function cbp(args: readonly string[], timeoutMs = 300_000, env?: NodeJS.ProcessEnv): CliRun {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, ...(env !== undefined ? {env} : {})});
  return {status: r.status, stdout: r.stdout, stderr: r.stderr};
}

export function cbpJson<T>(args: readonly string[], timeoutMs?: number, env?: NodeJS.ProcessEnv): T {
  const r = cbp([...args, '--json'], timeoutMs, env);
  if (r.status !== 0) throw new Error(`cbp ${args.join(' ')} exited ${r.status}\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

/** oclif wraps error messages to the terminal width and prefixes them with '›'; this joins them back into one line. */
export function errorText(stderr: string): string {
  return stderr.replace(/[›»]/g, ' ').replace(/\s+/g, ' ').trim();
}
