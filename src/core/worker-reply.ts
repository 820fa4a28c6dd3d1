import type {Worker} from 'node:worker_threads';
import {CbpError, type ErrorCode} from './errors';

/** What a worker thread of ours posts when it caught an error (with the CbpError code when it had one). */
export interface WorkerError {
  readonly type: 'error';
  readonly message: string;
  readonly code?: ErrorCode;
}

function isWorkerError(m: {readonly type: string}): m is WorkerError {
  return m.type === 'error' && 'message' in m;
}

/**
 * The next message of a worker thread in the middle of a step, as a promise: rejected with a CbpError naming the
 * worker (`who`) when it reports an error, throws, or exits.
 */
export function nextReply<M extends {readonly type: string}>(w: Worker, who: string): Promise<M> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (m: M | WorkerError): void => {
      cleanup();
      if (isWorkerError(m)) reject(new CbpError(`${who}: ${m.message}`, m.code));
      else resolve(m);
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new CbpError(`${who} failed: ${e.message}`));
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new CbpError(`${who} exited (code ${code}) in the middle of a step`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  });
}
