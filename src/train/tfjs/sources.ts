import {tf} from './tf';
import {TopK} from '../../core/topk';
import {float32Values} from './tensors';
import {EVAL_BATCH, openSource, type Source} from '../../data/source';
import type {Batch} from '../../data/imagefolder';
import type {Network} from './network';

export interface Accuracy {
  readonly top1: number;
  readonly top5: number;
  readonly images: number;
}

/** Training data for the tfjs engine: a Source with training images, batched NHWC, and the test accuracy of a network. */
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

/** Top-1/top-5 of the network (quantized weights, running batch-norm statistics) on the source's test images. */
export async function tfjsAccuracy(net: Network, src: Source): Promise<Accuracy> {
  const [c, h, w] = src.shape;
  const topk = new TopK();
  for await (const b of src.test.batches(EVAL_BATCH[src.kind], 'NHWC')) {
    if (b.count === 0) continue;
    topk.add(tf.tidy(() => float32Values(net.forward(tf.tensor4d(b.x, [b.count, h, w, c]), false))), b.y);
  }
  return topk.accuracy();
}

export function trainData(data: string, limit: number | undefined, onSkip: (file: string, why: string) => void, testLimit?: number): TrainData {
  const src: Source = openSource(data, {need: 'train', limit, testLimit, onSkip});
  const train = src.train;
  if (train === undefined) throw new Error(`internal: ${data} opened without training images`);
  return {
    name: src.name,
    shape: src.shape,
    numClasses: src.numClasses,
    trainCount: train.count,
    testCount: src.test.count,
    trainBatches: (epoch, batchSize, seed) => train.epoch(epoch, seed).batches(batchSize, 'NHWC'),
    evaluate: (net) => tfjsAccuracy(net, src),
  };
}
