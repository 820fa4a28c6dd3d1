import * as path from 'node:path';
import {Worker} from 'node:worker_threads';
import {fusedUpdate} from './fused';
import type {UpdateRule} from './update';
import {nextReply} from '../core/worker-reply';

/**
 * The CBP update pass on two threads (cbp/state.ts starts it for large models). Between two steps the CPU does one
 * fused pass over every constrained weight (fused.ts) — on ResNet-18's 11 M weights a third of a second on one
 * core while the engine's threads wait. Each constrained layer is split in two: this thread updates the head, a
 * worker thread the tail, over shared memory. The latent weights, momentum and λ live in SharedArrayBuffers (they
 * are never handed to an engine: ONNX Runtime refuses shared memory); the worker receives its part of the gradient
 * and leaves its part of the next quantized weights in shared buffers of its own, which this thread copies into the
 * arrays the engine is fed. The split is fixed, so a run stays bit-identical (the halves' Σ λ⊙c(w) are added in a
 * fixed order).
 */
export interface ThreadedLayer {
  readonly w: Float32Array;
  readonly momentum: Float32Array;
  readonly lambda: Float32Array;
  /** The quantized weights fed to the engine (not shared). */
  readonly quantized: Float32Array;
  readonly scale: number;
  readonly levels: readonly number[];
}

/** What the worker is given once: per layer its shared arrays and where its tail starts. */
export interface UpdateWorkerData {
  readonly layers: readonly {
    readonly w: SharedArrayBuffer;
    readonly momentum: SharedArrayBuffer;
    readonly lambda: SharedArrayBuffer;
    readonly gradTail: SharedArrayBuffer;
    readonly quantizedTail: SharedArrayBuffer;
    readonly split: number;
    readonly scale: number;
    readonly levels: readonly number[];
  }[];
}

export interface UpdateRequest {
  readonly rule: UpdateRule;
  readonly ucs: number;
  readonly withLambda: boolean;
}

export interface UpdateReply {
  readonly type: 'done';
  readonly values: readonly number[];
}

function sharedBuffer(a: Float32Array): SharedArrayBuffer {
  if (!(a.buffer instanceof SharedArrayBuffer)) throw new Error('internal: update pool given an array outside shared memory');
  return a.buffer;
}

export class UpdateThreads {
  private constructor(
    private readonly worker: Worker,
    private readonly layers: readonly (ThreadedLayer & {readonly split: number; readonly gradTail: Float32Array; readonly quantizedTail: Float32Array})[],
  ) {}

  static start(layers: readonly ThreadedLayer[]): UpdateThreads {
    const parts = layers.map((l) => {
      const split = Math.floor(l.w.length / 2);
      const tail = l.w.length - split;
      return {...l, split, gradTail: new Float32Array(new SharedArrayBuffer(4 * tail)), quantizedTail: new Float32Array(new SharedArrayBuffer(4 * tail))};
    });
    const workerData: UpdateWorkerData = {
      layers: parts.map((p) => ({w: sharedBuffer(p.w), momentum: sharedBuffer(p.momentum), lambda: sharedBuffer(p.lambda), gradTail: sharedBuffer(p.gradTail), quantizedTail: sharedBuffer(p.quantizedTail), split: p.split, scale: p.scale, levels: p.levels})),
    };
    const worker = new Worker(path.join(__dirname, 'update-worker.js'), {workerData});
    // Between steps the idle thread must not keep the process alive (an engine left unclosed after an error);
    // during an update it is referenced, so the process waits for its reply.
    worker.unref();
    return new UpdateThreads(worker, parts);
  }

  /**
   * The fused update of every layer, `grads[i]` being layer i's gradient: the head here, the tail on the worker at
   * the same time. Returns Σ λ⊙c(w) per layer (0 without λ).
   */
  async update(grads: readonly Float32Array[], rule: UpdateRule, ucs: number, withLambda: boolean): Promise<number[]> {
    this.layers.forEach((l, i) => l.gradTail.set(grads[i].subarray(l.split)));
    const reply = this.reply();
    this.worker.ref();
    this.worker.postMessage({rule, ucs, withLambda} satisfies UpdateRequest);
    const heads = this.layers.map((l, i) => {
      const head = (a: Float32Array): Float32Array => a.subarray(0, l.split);
      return fusedUpdate(head(l.w), head(grads[i]), head(l.momentum), rule, {scale: l.scale, levels: l.levels, lambda: withLambda ? head(l.lambda) : undefined, quantized: head(l.quantized)}, ucs);
    });
    const tails = await reply.finally(() => this.worker.unref());
    this.layers.forEach((l) => l.quantized.set(l.quantizedTail, l.split));
    return heads.map((h, i) => h + tails[i]);
  }

  private async reply(): Promise<readonly number[]> {
    return (await nextReply<UpdateReply>(this.worker, 'update thread')).values;
  }


  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
