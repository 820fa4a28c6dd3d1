import {fork, type ChildProcess} from 'node:child_process';
import * as path from 'node:path';
import {CbpError, ERROR_CODES, type ErrorCode} from '../core/errors';
import type {FromChild, ToChild} from './session-child';
import type {Logits} from '../core/ort';

/**
 * An ONNX Runtime session in a child process, so that a model which never finishes can be stopped: each call waits
 * at most `timeoutMs`, then the child is killed and the call fails with a TIMEOUT naming the model.
 */
export class IsolatedSession {
  private constructor(
    private readonly child: ChildProcess,
    private readonly source: string,
    private readonly timeoutMs: number,
    readonly device: 'cuda' | 'webgpu' | 'cpu',
    /** The device and why, in one line for the log. */
    readonly line: string,
  ) {}

  static async open(model: Uint8Array, device: string, source: string, timeoutMs: number, needs?: string): Promise<IsolatedSession> {
    const child = fork(path.join(__dirname, 'session-child.js'), [], {serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc']});
    const answer = await ask(child, {kind: 'open', model, device, source, ...(needs !== undefined ? {needs} : {})}, source, timeoutMs, 'load');
    if (answer.kind !== 'opened') throw new CbpError(`${source}: internal: unexpected answer '${answer.kind}' to open`, 'INTERNAL');
    return new IsolatedSession(child, source, timeoutMs, answer.device, answer.line);
  }

  async run(x: Float32Array, dims: readonly number[]): Promise<Logits> {
    const answer = await ask(this.child, {kind: 'run', x, dims: [...dims]}, this.source, this.timeoutMs, 'run a batch');
    if (answer.kind !== 'logits') throw new CbpError(`${this.source}: internal: unexpected answer '${answer.kind}' to run`, 'INTERNAL');
    return {data: answer.data, dims: answer.dims};
  }

  release(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

function codeOf(code: string): ErrorCode {
  return ERROR_CODES.find((c) => c === code) ?? 'ONNX_RUNTIME';
}

function ask(child: ChildProcess, message: ToChild, source: string, timeoutMs: number, what: string): Promise<FromChild> {
  return new Promise<FromChild>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const fail = (err: CbpError): void => {
      done();
      child.kill('SIGKILL');
      reject(err);
    };
    const onMessage = (m: FromChild): void => {
      done();
      if (m.kind === 'error') {
        child.kill('SIGKILL');
        reject(new CbpError(m.message, codeOf(m.code)));
      } else {
        resolve(m);
      }
    };
    const onExit = (code: number | null, signal: string | null): void =>
      fail(new CbpError(`${source}: ONNX Runtime stopped while trying to ${what} (exit ${code ?? signal ?? '?'}; out of memory?)`, 'ONNX_RUNTIME'));
    const onError = (err: Error): void => fail(new CbpError(`${source}: cannot start ONNX Runtime (${err.message})`, 'ONNX_RUNTIME'));
    const timer = setTimeout(
      () => fail(new CbpError(`${source}: ONNX Runtime did not ${what} within ${timeoutMs / 1000} s (--timeout); the model may never terminate`, 'TIMEOUT')),
      timeoutMs,
    );
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
    child.send(message);
  });
}
