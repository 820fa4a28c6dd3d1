/**
 * The worker thread of update-threads.ts: for each request it runs the fused update over the tail of every
 * constrained layer, in shared memory, and replies with the tails' Σ λ⊙c(w).
 */
import {parentPort, workerData} from 'node:worker_threads';
import {errorMessage} from '../core/errors';
import {fusedUpdate} from './fused';
import type {UpdateReply, UpdateRequest, UpdateWorkerData} from './update-threads';
import type {WorkerError} from '../core/worker-reply';

// UpdateThreads.start is the only place that starts this file, always with an UpdateWorkerData; @types/node types it any.
const data = workerData as UpdateWorkerData;
const layers = data.layers.map((l) => {
  const tail = (b: SharedArrayBuffer): Float32Array => new Float32Array(b).subarray(l.split);
  return {w: tail(l.w), momentum: tail(l.momentum), lambda: tail(l.lambda), grad: new Float32Array(l.gradTail), quantized: new Float32Array(l.quantizedTail), scale: l.scale, levels: l.levels};
});

parentPort?.on('message', (req: UpdateRequest) => {
  let reply: UpdateReply | WorkerError;
  try {
    const values = layers.map((l) => fusedUpdate(l.w, l.grad, l.momentum, req.rule, {scale: l.scale, levels: l.levels, lambda: req.withLambda ? l.lambda : undefined, quantized: l.quantized}, req.ucs));
    reply = {type: 'done', values};
  } catch (e) {
    reply = {type: 'error', message: errorMessage(e)};
  }
  parentPort?.postMessage(reply);
});
