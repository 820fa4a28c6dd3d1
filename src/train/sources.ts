import * as fs from 'node:fs';
import * as path from 'node:path';
import {tf} from '../core/tf';
import {batchNHWC, isDatasetName, limitSplit, loadDataset} from '../data/index';
import {loadBatches, scanImageFolder, selectSamples, type Batch} from '../data/imagefolder';
import {CbpError} from '../core/errors';
import {countHits} from '../core/topk';
import {Rng, derivedRng} from '../core/rng';
import {evaluate, type Accuracy} from './metrics';
import type {Network} from './network';

/** Where training images come from: a built-in data set held in memory, or an ImageNet-style folder. */
export interface TrainData {
  readonly name: string;
  /** Channels, height, width. */
  readonly shape: readonly [number, number, number];
  readonly numClasses: number;
  readonly trainCount: number;
  readonly testCount: number;
  /** NHWC batches of one epoch, shuffled (and augmented, for folders) from the seed and the epoch alone. */
  trainBatches(epoch: number, batchSize: number, seed: number): AsyncGenerator<Batch>;
  /** Accuracy on the test split with the network's quantized weights. */
  evaluate(net: Network): Promise<Accuracy>;
}

export function trainData(data: string, limit: number | undefined, onSkip: (file: string, why: string) => void, testLimit?: number): TrainData {
  if (isDatasetName(data)) {
    const ds = loadDataset(data);
    const split = limitSplit(ds.train, limit, ds.shape[0] * ds.shape[1] * ds.shape[2]);
    const test = limitSplit(ds.test, testLimit, ds.shape[0] * ds.shape[1] * ds.shape[2]);
    return {
      name: ds.name,
      shape: ds.shape,
      numClasses: ds.numClasses,
      trainCount: split.count,
      testCount: test.count,
      async *trainBatches(epoch, batchSize, seed) {
        const perm = derivedRng(seed, 1, epoch).permutation(split.count);
        for (let start = 0; start < split.count; start += batchSize) {
          const idx = perm.subarray(start, Math.min(start + batchSize, split.count));
          const b = batchNHWC(ds, split, idx);
          yield {x: b.x, y: b.y, count: idx.length};
        }
      },
      evaluate: async (net) => evaluate(net, ds, test),
    };
  }
  const trainDir = path.join(data, 'train');
  const valDir = path.join(data, 'val');
  if (!fs.existsSync(trainDir) || !fs.existsSync(valDir)) {
    throw new CbpError(`--data ${data}: expected ${trainDir} and ${valDir} with one sub-folder per class (the ImageNet layout), or one of ${['mnist', 'fashion-mnist'].join(', ')}`, 'BAD_FOLDER');
  }
  const train = scanImageFolder(trainDir);
  const val = scanImageFolder(valDir);
  if (train.classes.join('\n') !== val.classes.join('\n')) {
    throw new CbpError(`--data ${data}: train/ has ${train.classes.length} classes and val/ ${val.classes.length}; they must have the same class folders`, 'BAD_FOLDER');
  }
  const trainSamples = selectSamples(train.samples, limit);
  const valSamples = selectSamples(val.samples, testLimit);
  return {
    name: data,
    shape: [3, 224, 224],
    numClasses: train.classes.length,
    trainCount: trainSamples.length,
    testCount: valSamples.length,
    async *trainBatches(epoch, batchSize, seed) {
      const perm = derivedRng(seed, 1, epoch).permutation(trainSamples.length);
      const order = Array.from(perm, (i) => trainSamples[i]);
      // Each image's crop and flip come from its own generator, so they do not depend on decoding order.
      const transform = (i: number): {kind: 'train'; crop: number; rng: Rng} => ({kind: 'train', crop: 224, rng: derivedRng(seed, 2 + i, epoch)});
      yield* loadBatches(order, {transform, batchSize, layout: 'NHWC', size: 224, onSkip});
    },
    async evaluate(net) {
      let hit1 = 0;
      let hit5 = 0;
      let images = 0;
      for await (const b of loadBatches(valSamples, {transform: () => ({kind: 'eval', resize: 256, crop: 224}), batchSize: 32, layout: 'NHWC', size: 224, onSkip})) {
        if (b.count === 0) continue;
        const logits = tf.tidy(() => net.forward(tf.tensor4d(b.x, [b.count, 224, 224, 3]), false).dataSync() as Float32Array);
        const h = countHits(logits, b.y, logits.length / b.count);
        hit1 += h.top1;
        hit5 += h.top5;
        images += b.count;
      }
      return {top1: images ? hit1 / images : 0, top5: images ? hit5 / images : 0, images};
    },
  };
}
