import {tf} from '../core/tf';
import {cfsOf} from '../cbp/constraint';
import {levelCounts} from '../cbp/levels';
import {batchNHWC, type Dataset, type Split} from '../data/dataset';
import type {Network} from './network';
import {countHits} from '../core/topk';

export interface Accuracy {
  readonly top1: number;
  readonly top5: number;
  readonly images: number;
}

/** Top-1/top-5 of the network with its quantized weights and running batch-norm statistics. */
export function evaluate(net: Network, ds: Dataset, split: Split, batchSize = 500): Accuracy {
  let hit1 = 0;
  let hit5 = 0;
  for (let start = 0; start < split.count; start += batchSize) {
    const n = Math.min(batchSize, split.count - start);
    const {x, y} = batchNHWC(ds, split, Array.from({length: n}, (_, i) => start + i));
    const logits = tf.tidy(() => net.forward(tf.tensor4d(x, [n, ds.shape[1], ds.shape[2], ds.shape[0]]), false).dataSync() as Float32Array);
    const hits = countHits(logits, y, ds.numClasses);
    hit1 += hits.top1;
    hit5 += hits.top5;
  }
  return {top1: hit1 / split.count, top5: hit5 / split.count, images: split.count};
}

export function constrainedCount(net: Network): number {
  return net.constrained.reduce((s, c) => s + net.variable(c.weightKey).size, 0);
}

/** Constraint-satisfaction measure (src/cbp: mean c(w) at ucs = 1 over every constrained weight; 0 for float models). */
export function cfs(net: Network): number {
  return cfsOf(net.constrained.map((c) => ({weights: net.variable(c.weightKey).dataSync() as Float32Array, scale: c.scale, levels: c.levels})));
}

export interface LevelHistogram {
  readonly layer: string;
  readonly scale: number;
  readonly levels: readonly number[];
  /** counts[i]: weights whose quantized value is levels[i]·scale. */
  readonly counts: readonly number[];
  /** Weights whose quantized value is no level (only a latent weight exactly on a midpoint gives one). */
  readonly offLevel: number;
}

/** How many weights of each constrained layer sit at each allowed value. */
export function levelHistograms(net: Network): LevelHistogram[] {
  return net.constrained.map((c) => {
    const {counts, offLevel} = levelCounts(net.variable(c.weightKey).dataSync() as Float32Array, c.scale, c.levels);
    return {layer: c.node.name, scale: c.scale, levels: c.levels, counts, offLevel};
  });
}
