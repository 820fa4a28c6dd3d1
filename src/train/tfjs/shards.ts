import * as os from 'node:os';
import * as path from 'node:path';
import {Worker} from 'node:worker_threads';
import {nextReply} from '../../core/worker-reply';
import {tf} from './tf';
import {CbpError, type ErrorCode} from '../../core/errors';
import {required} from '../../core/checks';
import {sizeOf, type Weights} from '../../core/weights';
import type {ModelSpec, QuantOrNone} from '../../../models/spec';
import {AllReduce} from './allreduce';
import type {Network} from './network';

/** What a shard worker needs to build its copy of the network (see shard-worker.ts). */
export interface ShardWorkerData {
  readonly rank: number;
  readonly ranks: number;
  readonly backend: string;
  readonly spec: ModelSpec;
  readonly quant: QuantOrNone;
  readonly weights: [string, readonly number[], Float32Array][];
  readonly classes: number;
  readonly reduceBuffer: SharedArrayBuffer;
  readonly reduceLength: number;
  /** Trainable tensors (tfjs layout), written by the main thread before every step. */
  readonly weightBuffer: SharedArrayBuffer;
  /** One gradient vector per worker, same layout. */
  readonly gradBuffer: SharedArrayBuffer;
  readonly layout: {key: string; offset: number; size: number}[];
}

export type ShardMessage =
  | {type: 'ready'}
  | {type: 'done'; ce: number}
  | {type: 'error'; message: string; code?: ErrorCode};

export interface StepRequest {
  readonly type: 'step';
  // Own buffers (not shared memory), so that posting the request can transfer them.
  readonly x: Float32Array<ArrayBuffer>;
  readonly y: Int32Array<ArrayBuffer>;
  readonly n: number;
  readonly total: number;
  readonly shape: readonly [number, number, number];
}

/** The workers' part of one step: their summed share of the loss and their summed gradient per tensor. */
export interface RemoteResult {
  readonly weightedLoss: number;
  grad(key: string, shape: readonly number[]): tf.Tensor;
}

/**
 * How many threads share a training step by default. Native TensorFlow is multi-threaded already; the wasm and
 * cpu backends run on one thread each, so their batch is split over the cores (at most 4, and shards of at least
 * 8 samples, below which the synchronisation costs more than it saves).
 */
export function defaultWorkers(backend: string, batchSize: number): number {
  if (backend === 'tensorflow') return 1;
  return Math.max(1, Math.min(os.availableParallelism(), 4, Math.floor(batchSize / 8)));
}

/**
 * Data-parallel training threads: `size − 1` worker threads, each with its own tfjs backend and copy of the
 * network, plus the calling thread as shard 0. Per step the calling thread writes the current weights to shared
 * memory and sends each worker its slice of the batch; batch norm sums its statistics over all shards (AllReduce),
 * and each worker leaves its gradient in shared memory.
 */
export class ShardPool {
  readonly reducer: AllReduce;
  private readonly weightView: Float32Array;
  private readonly gradViews: Float32Array[];
  private readonly offsets = new Map<string, {offset: number; size: number}>();
  private closed = false;

  private constructor(
    readonly size: number,
    private readonly workers: Worker[],
    data: Omit<ShardWorkerData, 'rank'>,
  ) {
    this.reducer = new AllReduce(data.reduceBuffer, 0, size, data.reduceLength);
    this.weightView = new Float32Array(data.weightBuffer);
    const total = this.weightView.length;
    this.gradViews = workers.map((_, i) => new Float32Array(data.gradBuffer, 4 * i * total, total));
    for (const l of data.layout) this.offsets.set(l.key, l);
  }

  /** Starts `size − 1` workers for `net` and waits until each has built its network. */
  static async create(size: number, net: Network, backend: string, classes: number): Promise<ShardPool> {
    const trainable = net.infos.filter((i) => i.trainable);
    const layout: ShardWorkerData['layout'] = [];
    let offset = 0;
    for (const i of trainable) {
      const n = sizeOf(net.variable(i.key).shape);
      layout.push({key: i.key, offset, size: n});
      offset += n;
    }
    // Batch-norm reductions carry at most 2 × channels values (the gradient's two sums).
    const channels = Math.max(1, ...net.spec.nodes.map((n) => (n.kind === 'batchnorm' ? n.channels : 1)));
    const reduceLength = 2 * channels;
    const weights: Weights = net.toWeights();
    const data: Omit<ShardWorkerData, 'rank'> = {
      ranks: size,
      backend,
      spec: net.spec,
      quant: net.quant,
      weights: [...weights].map(([k, t]) => [k, t.shape, t.data]),
      classes,
      reduceBuffer: new SharedArrayBuffer(AllReduce.bytes(size, reduceLength)),
      reduceLength,
      weightBuffer: new SharedArrayBuffer(4 * offset),
      gradBuffer: new SharedArrayBuffer(4 * offset * (size - 1)),
      layout,
    };
    const script = path.join(__dirname, 'shard-worker.js');
    const workers: Worker[] = [];
    try {
      for (let rank = 1; rank < size; rank++) {
        const w = new Worker(script, {workerData: {...data, rank} satisfies ShardWorkerData});
        workers.push(w);
      }
      await Promise.all(workers.map((w, i) => nextMessage(w, i + 1)));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new ShardPool(size, workers, data);
  }

  /** Samples of a batch of n that shard `rank` computes: contiguous, sizes differing by at most one. */
  shardSize(n: number, rank: number): number {
    return Math.floor(n / this.size) + (rank < n % this.size ? 1 : 0);
  }

  /** Publishes the weights, sends every worker its shard and resolves when all have left their gradients. */
  start(net: Network, x: Float32Array, y: Int32Array, n: number, shape: readonly [number, number, number]): Promise<RemoteResult> {
    if (this.closed) throw new CbpError('internal: shard pool used after close');
    for (const [key, l] of this.offsets) this.weightView.set(net.variable(key).dataSync(), l.offset);
    const per = shape[0] * shape[1] * shape[2];
    let first = this.shardSize(n, 0);
    const pending: Promise<ShardMessage>[] = [];
    for (let rank = 1; rank < this.size; rank++) {
      const m = this.shardSize(n, rank);
      const req: StepRequest = {type: 'step', x: x.slice(first * per, (first + m) * per), y: y.slice(first, first + m), n: m, total: n, shape};
      const w = this.workers[rank - 1];
      pending.push(nextMessage(w, rank));
      w.postMessage(req, [req.x.buffer, req.y.buffer]);
      first += m;
    }
    return Promise.all(pending).then((msgs) => {
      let weightedLoss = 0;
      msgs.forEach((m, i) => {
        if (m.type === 'done') weightedLoss += (m.ce * this.shardSize(n, i + 1)) / n;
      });
      return {
        weightedLoss,
        grad: (key: string, shape2: readonly number[]): tf.Tensor => {
          const l = required(this.offsets, key, 'gradient offsets');
          const sum = new Float32Array(l.size);
          for (const g of this.gradViews) {
            const part = g.subarray(l.offset, l.offset + l.size);
            for (let i = 0; i < l.size; i++) sum[i] += part[i];
          }
          return tf.tensor(sum, [...shape2], 'float32');
        },
      };
    });
  }

  /** Wakes every thread blocked on a reduction after this thread failed mid-step. */
  abort(): void {
    this.reducer.abort();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The worker's next message; its error or exit rejects with a message naming the worker. */
function nextMessage(w: Worker, rank: number): Promise<ShardMessage> {
  return nextReply<ShardMessage>(w, `data-parallel worker ${rank}`);
}
