import * as fs from 'node:fs';
import {parseShard} from '../data/imagefolder';
import {CbpError, errorMessage} from '../core/errors';
import {openSession, runBatch} from '../core/ort';
import {openSource} from '../data/source';
import {TopK} from '../core/topk';
import {readOnnx} from '../../onnx/reader';

export interface EvalOptions {
  readonly onnx: string;
  readonly data: string;
  readonly device: string;
  readonly batchSize: number;
  readonly limit?: number;
  /** K/N: evaluate every N-th image starting at the K-th, to split a run across processes. */
  readonly shard?: string;
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
  readonly top1Hits: number;
  readonly top5Hits: number;
  /** Files that could not be decoded (named in the log), not counted in `images`. */
  readonly skipped: number;
  readonly imagesPerSecond: number;
  readonly device: 'cuda' | 'webgpu' | 'cpu';
  readonly shard?: string;
  readonly predictions?: number[];
}

/** Top-1/top-5 of an ONNX classifier on a data set's test split or an image folder, through onnxruntime-node. */
export async function evaluateOnnx(opts: EvalOptions): Promise<EvalResult> {
  if (!fs.existsSync(opts.onnx)) throw new CbpError(`--onnx ${opts.onnx}: no such file`, 'NO_FILE');
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new CbpError(`--batch-size ${opts.batchSize}: expected an integer ≥ 1`);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new CbpError(`--limit ${opts.limit}: expected an integer ≥ 1`);
  const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
  const {model, bytes} = readOnnx(opts.onnx);
  let skipped = 0;
  const source = openSource(opts.data, {need: 'test', limit: opts.limit, shard, onSkip: (_file, why) => {
    skipped++;
    opts.log?.(`warning: skipped ${why}`);
  }});
  const dims = model.graph.input[0]?.type?.tensor_type?.shape?.dim ?? [];
  const expected = dims.slice(1).map((d) => ('dim_value' in d ? d.dim_value : -1));
  if (expected.join(',') !== source.shape.join(',')) {
    throw new CbpError(`${opts.onnx}: the model takes inputs [${expected.join(', ')}], data '${opts.data}' gives images [${source.shape.join(', ')}]`);
  }
  const opened = await openSession(bytes, opts.device, opts.onnx);
  if (opened.fallback !== undefined) opts.log?.(`device: cpu (CUDA not used: ${opened.fallback})`);
  const topk = new TopK(opts.keepPredictions === true);
  let done = 0;
  const started = process.hrtime.bigint();
  let inferenceNs = 0n;
  try {
    for await (const batch of source.test.batches(opts.batchSize, 'NCHW')) {
      done += opts.batchSize;
      if (batch.count === 0) continue;
      const t0 = process.hrtime.bigint();
      const logits = await runBatch(opened.session, batch.x, [batch.count, ...source.shape]);
      inferenceNs += process.hrtime.bigint() - t0;
      topk.add(logits, batch.y);
      opts.onBatch?.(Math.min(done, source.test.count), source.test.count, Number(process.hrtime.bigint() - started) / 1e9);
    }
  } finally {
    await opened.session.release();
  }
  const {top1, top5, images} = topk;
  if (images === 0) throw new CbpError(`--data ${opts.data}: no image could be evaluated (${skipped} skipped)`);
  return {
    model: opts.onnx,
    data: source.name,
    top1: top1 / images,
    top5: top5 / images,
    images,
    top1Hits: top1,
    top5Hits: top5,
    skipped,
    // Throughput of the runtime itself (decoding excluded), the figure a deployment cares about.
    imagesPerSecond: images / (Number(inferenceNs) / 1e9),
    device: opened.device,
    ...(opts.shard !== undefined ? {shard: opts.shard} : {}),
    ...(opts.keepPredictions ? {predictions: topk.predictions} : {}),
  };
}

/** Combines the counts of shard results (`cbp eval --shard K/N --json > part.json`) into one result. */
export function mergeResults(files: readonly string[]): EvalResult {
  if (files.length === 0) throw new CbpError('--merge: expected at least one result file');
  const parts = files.map((f) => {
    let r: Partial<EvalResult>;
    try {
      // JSON.parse gives any; the loop below checks that each field the merge reads is present.
      r = JSON.parse(fs.readFileSync(f, 'utf8')) as Partial<EvalResult>;
    } catch (err) {
      throw new CbpError(`--merge ${f}: not a readable JSON result (${errorMessage(err)})`);
    }
    for (const k of ['model', 'data', 'images', 'top1Hits', 'top5Hits', 'imagesPerSecond'] as const) {
      if (r[k] === undefined) throw new CbpError(`--merge ${f}: has no '${k}' (write shard results with cbp eval --json)`);
    }
    // Every field the merge reads was checked present above (a missing skipped counts 0); values are taken as cbp eval --json wrote them.
    return r as EvalResult;
  });
  const first = parts[0];
  for (const [i, p] of parts.entries()) {
    if (p.model !== first.model || p.data !== first.data) {
      throw new CbpError(`--merge ${files[i]}: result for ${p.model} on ${p.data}, but ${files[0]} is for ${first.model} on ${first.data}`);
    }
  }
  const sum = (k: 'images' | 'top1Hits' | 'top5Hits' | 'skipped'): number => parts.reduce((s, p) => s + (p[k] ?? 0), 0);
  const images = sum('images');
  const seconds = parts.reduce((s, p) => s + p.images / p.imagesPerSecond, 0);
  return {
    model: first.model,
    data: first.data,
    top1: sum('top1Hits') / images,
    top5: sum('top5Hits') / images,
    images,
    top1Hits: sum('top1Hits'),
    top5Hits: sum('top5Hits'),
    skipped: sum('skipped'),
    imagesPerSecond: images / seconds,
    device: first.device,
  };
}
