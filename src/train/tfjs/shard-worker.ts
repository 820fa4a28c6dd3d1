/**
 * A data-parallel training thread (see shards.ts): its own tfjs backend and copy of the network; for each step it
 * loads the weights the main thread published, computes the gradient of its shard's share of the loss with batch
 * norm synchronised over all shards, and leaves the gradient in shared memory.
 */
import {parentPort, workerData} from 'node:worker_threads';
import {tf} from './tf';
import {selectBackend} from './backend';
import {CbpError, errorMessage} from '../../core/errors';
import {AllReduce} from './allreduce';
import {Network} from './network';
import type {ShardMessage, ShardWorkerData, StepRequest} from './shards';
import {lossGrads} from './step';

// ShardPool (shards.ts) starts this file only as a worker, always with a ShardWorkerData; @types/node types it any.
const data = workerData as ShardWorkerData;
const port = parentPort;

function send(m: ShardMessage): void {
  port?.postMessage(m);
}

async function main(): Promise<void> {
  await selectBackend(data.backend);
  const net = new Network(data.spec, data.quant, new Map(data.weights.map(([k, shape, d]) => [k, {shape, data: d}])));
  const reducer = new AllReduce(data.reduceBuffer, data.rank, data.ranks, data.reduceLength);
  const weights = new Float32Array(data.weightBuffer);
  const total = weights.length;
  const grads = new Float32Array(data.gradBuffer, 4 * (data.rank - 1) * total, total);
  const vars = data.layout.map((l) => ({...l, v: net.variable(l.key)}));
  port?.on('message', (req: StepRequest) => {
    try {
      for (const {offset, size, v} of vars) {
        tf.tidy(() => v.assign(tf.tensor(weights.subarray(offset, offset + size), v.shape, 'float32')));
      }
      net.reducer = reducer;
      const r = lossGrads(net, req.x, req.y, req.n, req.shape, data.classes, req.n / req.total);
      const ce = r.ce.dataSync()[0];
      r.value.dispose();
      r.ce.dispose();
      for (const {offset, v} of vars) {
        const g = r.grads[v.name];
        grads.set(g.dataSync(), offset);
      }
      for (const g of Object.values(r.grads)) g.dispose();
      send({type: 'done', ce});
    } catch (e) {
      reducer.abort();
      send({type: 'error', message: errorMessage(e), code: e instanceof CbpError ? e.code : undefined});
    }
  });
  send({type: 'ready'});
}

main().catch((e) => send({type: 'error', message: errorMessage(e)}));
