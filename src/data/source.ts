import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {derivedRng, type Rng} from '../core/rng';
import {DATASET_NAMES, isDatasetName, limitSplit, loadDataset, makeBatch, type Dataset, type Layout, type Split} from './index';
import {loadBatches, scanImageFolder, selectSamples, type Batch, type Sample, type Shard, type Transform} from './imagefolder';
import {IMAGENET_MEAN, IMAGENET_STD} from './imagenet-stats';

/** The transforms of image folders, as the reference's data loaders define them. */
export const FOLDER_TRANSFORM = {resize: 256, crop: 224} as const;

/**
 * Test-batch size of a per-epoch evaluation: built-in sets are in memory, folders decode as they go. 16 for folders:
 * ONNX Runtime's first run at a batch size touches that batch's working memory for the first time, which costs more
 * than the run itself on a virtual machine (ResNet-18 at 224: 64 photos evaluated in 2.5 s at batch 32, 2.3 s at
 * 16; 256 in 6.8 s at either).
 */
export const EVAL_BATCH: Record<Source['kind'], number> = {builtin: 500, folder: 16};

/** A run of images: how many, and its batches (one pass). */
export interface ImageRun {
  readonly count: number;
  batches(batchSize: number, layout: Layout): AsyncGenerator<Batch>;
}

/**
 * Where images come from — a built-in data set held in memory or an ImageNet-style folder decoded with sharp —
 * behind one interface for training, evaluation and the export check. Its input shape is the data's own: a
 * built-in set's image shape, or the folder transform's crop.
 */
export interface Source {
  /** The data set's name, or the folder as given. */
  readonly name: string;
  /** A built-in set held in memory, or a folder decoded as it is read. */
  readonly kind: 'builtin' | 'folder';
  /** Channels, height, width of one image as the model receives it. */
  readonly shape: readonly [number, number, number];
  readonly numClasses: number;
  /** Class names in label order: a built-in set's, or a folder's class sub-folders (sorted). */
  readonly labels: readonly string[];
  /** Per-channel mean and std applied to x/255. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly test: ImageRun;
  /** Training images, shuffled (and augmented, for folders) from the seed and the epoch alone; absent for test-only sources. */
  readonly train?: ImageRun & {epoch(epoch: number, seed: number): ImageRun};
}

export interface SourceOptions {
  /** 'train': a built-in set or DATA/{train,val}; 'test': a built-in set's test split, DATA/val or DATA itself. */
  readonly need: 'train' | 'test';
  readonly limit?: number;
  readonly testLimit?: number;
  readonly shard?: Shard;
  readonly onSkip?: (file: string, why: string) => void;
  /** The flag that named the data, for errors. */
  readonly flag?: string;
  /**
   * The side of the square crop an image folder gives (the model's input side): 224 when not given. The evaluation
   * resize keeps torchvision's ratio, the shorter side to side·256/224.
   */
  readonly side?: number;
}

/** The folder transform for a model whose input is side × side: FOLDER_TRANSFORM at 224, the same ratio otherwise. */
export function folderTransform(side: number = FOLDER_TRANSFORM.crop): {resize: number; crop: number} {
  return side === FOLDER_TRANSFORM.crop ? FOLDER_TRANSFORM : {resize: Math.round((side * FOLDER_TRANSFORM.resize) / FOLDER_TRANSFORM.crop), crop: side};
}

function memoryRun(ds: Dataset, split: Split, indices: ArrayLike<number>): ImageRun {
  return {
    count: indices.length,
    async *batches(batchSize, layout) {
      for (let start = 0; start < indices.length; start += batchSize) {
        const idx = Array.from({length: Math.min(batchSize, indices.length - start)}, (_, i) => indices[start + i]);
        const b = makeBatch(ds, split, idx, layout);
        yield {x: b.x, y: b.y, count: idx.length};
      }
    },
  };
}

function builtin(name: string, opts: SourceOptions): Source {
  const ds = loadDataset(name);
  const pixels = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const test = limitSplit(ds.test, opts.testLimit ?? (opts.need === 'test' ? opts.limit : undefined), pixels);
  const testIdx = Array.from({length: test.count}, (_, i) => i).filter((i) => opts.shard === undefined || i % opts.shard.count === opts.shard.index - 1);
  const base = {kind: 'builtin' as const, name: ds.name, shape: ds.shape, numClasses: ds.numClasses, labels: ds.labels, mean: ds.mean, std: ds.std, test: memoryRun(ds, test, testIdx)};
  if (opts.need === 'test') return base;
  const train = limitSplit(ds.train, opts.limit, pixels);
  const all = Array.from({length: train.count}, (_, i) => i);
  return {
    ...base,
    train: {...memoryRun(ds, train, all), epoch: (epoch, seed) => memoryRun(ds, train, derivedRng(seed, 1, epoch).permutation(train.count))},
  };
}

function folderRun(samples: readonly Sample[], size: number, transform: (i: number) => Transform, onSkip?: (file: string, why: string) => void): ImageRun {
  return {
    count: samples.length,
    batches: (batchSize, layout) => loadBatches(samples, {transform, batchSize, layout, size, onSkip}),
  };
}

function folder(data: string, opts: SourceOptions): Source {
  const flag = opts.flag ?? '--data';
  const t = folderTransform(opts.side);
  const evalTransform = (): {kind: 'eval'; resize: number; crop: number} => ({kind: 'eval', ...t});
  const base = {kind: 'folder' as const, shape: [3, t.crop, t.crop] as const, mean: IMAGENET_MEAN, std: IMAGENET_STD};
  if (opts.need === 'test') {
    const dir = fs.existsSync(path.join(data, 'val')) ? path.join(data, 'val') : data;
    const scanned = scanImageFolder(dir, flag);
    return {...base, name: dir, numClasses: scanned.classes.length, labels: scanned.classes, test: folderRun(selectSamples(scanned.samples, opts.limit, opts.shard), t.crop, evalTransform, opts.onSkip)};
  }
  const trainDir = path.join(data, 'train');
  const valDir = path.join(data, 'val');
  if (!fs.existsSync(trainDir) || !fs.existsSync(valDir)) {
    throw new CbpError(`${flag} ${data}: expected ${trainDir} and ${valDir} with one sub-folder per class (the ImageNet layout), or one of ${DATASET_NAMES.join(', ')}`, 'BAD_FOLDER');
  }
  const train = scanImageFolder(trainDir, flag);
  const val = scanImageFolder(valDir, flag);
  if (train.classes.join('\n') !== val.classes.join('\n')) {
    throw new CbpError(`${flag} ${data}: train/ has ${train.classes.length} classes and val/ ${val.classes.length}; they must have the same class folders`, 'BAD_FOLDER');
  }
  const trainSamples = selectSamples(train.samples, opts.limit);
  const epoch = (e: number, seed: number): ImageRun => {
    const order = Array.from(derivedRng(seed, 1, e).permutation(trainSamples.length), (i) => trainSamples[i]);
    // Each image's crop and flip come from its own generator, so they do not depend on decoding order.
    const transform = (i: number): {kind: 'train'; crop: number; rng: Rng} => ({kind: 'train', crop: t.crop, rng: derivedRng(seed, 2 + i, e)});
    return folderRun(order, t.crop, transform, opts.onSkip);
  };
  return {
    ...base,
    name: data,
    numClasses: train.classes.length,
    labels: train.classes,
    test: folderRun(selectSamples(val.samples, opts.testLimit), t.crop, evalTransform, opts.onSkip),
    train: {...folderRun(trainSamples, t.crop, evalTransform, opts.onSkip), epoch},
  };
}

/** Opens `data`: a built-in data set by name, or an image folder. */
export function openSource(data: string, opts: SourceOptions): Source {
  return isDatasetName(data) ? builtin(data, opts) : folder(data, opts);
}
