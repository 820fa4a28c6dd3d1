import * as fs from 'node:fs';
import {loadDataset, limitSplit, makeBatch} from '../data/index';
import {CbpError} from '../errors';
import {openSession, runBatch} from './session';
import {countHits} from './topk';
import {readOnnx} from '../../onnx/reader';

export interface EvalOptions {
  readonly onnx: string;
  readonly data: string;
  readonly device: string;
  readonly batchSize: number;
  readonly limit?: number;
  readonly log?: (line: string) => void;
  readonly onBatch?: (done: number, total: number, elapsedSeconds: number) => void;
  /** Keep each image's top-1 class in the result (for comparing runtimes). */
  readonly keepPredictions?: boolean;
}

export interface EvalResult {
  readonly model: string;
  readonly data: string;
  readonly top1: number;
  readonly top5: number;
  readonly images: number;
  readonly imagesPerSecond: number;
  readonly device: 'cuda' | 'cpu';
  readonly predictions?: number[];
}

/** Top-1/top-5 of an ONNX classifier on a data set's test split, through onnxruntime-node. */
export async function evaluateOnnx(opts: EvalOptions): Promise<EvalResult> {
  if (!fs.existsSync(opts.onnx)) throw new CbpError(`--onnx ${opts.onnx}: no such file`, 'NO_FILE');
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new CbpError(`--batch-size ${opts.batchSize}: expected an integer ≥ 1`);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new CbpError(`--limit ${opts.limit}: expected an integer ≥ 1`);
  const {model, bytes} = readOnnx(opts.onnx);
  const ds = loadDataset(opts.data);
  const dims = model.graph.input[0]?.type?.tensor_type?.shape?.dim ?? [];
  const expected = dims.slice(1).map((d) => ('dim_value' in d ? d.dim_value : -1));
  if (expected.join(',') !== ds.shape.join(',')) {
    throw new CbpError(`${opts.onnx}: the model takes inputs [${expected.join(', ')}], data set '${ds.name}' has images [${ds.shape.join(', ')}]`);
  }
  const opened = await openSession(bytes, opts.device, opts.onnx);
  if (opened.fallback !== undefined) opts.log?.(`device: cpu (CUDA not used: ${opened.fallback})`);
  const split = limitSplit(ds.test, opts.limit, ds.shape[0] * ds.shape[1] * ds.shape[2]);
  let top1 = 0;
  let top5 = 0;
  const predictions: number[] = [];
  const started = process.hrtime.bigint();
  let inferenceNs = 0n;
  try {
    for (let start = 0; start < split.count; start += opts.batchSize) {
      const n = Math.min(opts.batchSize, split.count - start);
      const {x, y} = makeBatch(ds, split, Array.from({length: n}, (_, i) => start + i), 'NCHW');
      const t0 = process.hrtime.bigint();
      const logits = await runBatch(opened.session, x, [n, ...ds.shape]);
      inferenceNs += process.hrtime.bigint() - t0;
      const classes = logits.length / n;
      const hits = countHits(logits, y, classes);
      top1 += hits.top1;
      top5 += hits.top5;
      if (opts.keepPredictions) predictions.push(...hits.predictions);
      opts.onBatch?.(start + n, split.count, Number(process.hrtime.bigint() - started) / 1e9);
    }
  } finally {
    await opened.session.release();
  }
  return {
    model: opts.onnx,
    data: ds.name,
    top1: top1 / split.count,
    top5: top5 / split.count,
    images: split.count,
    // Throughput of the runtime itself (decode and batching excluded), the figure a deployment cares about.
    imagesPerSecond: split.count / (Number(inferenceNs) / 1e9),
    device: opened.device,
    ...(opts.keepPredictions ? {predictions} : {}),
  };
}
