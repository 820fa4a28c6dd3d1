import * as fs from 'node:fs';
import * as path from 'node:path';
import {isDatasetName, limitSplit, loadDataset, makeBatch, type Layout} from '../data/index';
import {loadBatches, scanImageFolder, selectSamples, type Batch, type Shard} from '../data/imagefolder';

export interface EvalSource {
  readonly name: string;
  readonly images: number;
  readonly shape: readonly [number, number, number];
  readonly batches: AsyncGenerator<Batch>;
}

async function* memoryBatches(x: (idx: number[]) => {x: Float32Array; y: Int32Array}, indices: number[], batchSize: number): AsyncGenerator<Batch> {
  for (let start = 0; start < indices.length; start += batchSize) {
    const idx = indices.slice(start, start + batchSize);
    const b = x(idx);
    yield {x: b.x, y: b.y, count: idx.length};
  }
}

/**
 * The test images of `data`: a built-in data set's test split, or an ImageNet-style folder (DIR/<class>/…, or
 * DIR/val/<class>/… when DIR holds the whole data set) decoded with sharp under the evaluation transform.
 */
export function evalSource(data: string, layout: Layout, batchSize: number, limit?: number, shard?: Shard, onSkip?: (file: string, why: string) => void): EvalSource {
  if (isDatasetName(data)) {
    const ds = loadDataset(data);
    const split = limitSplit(ds.test, limit, ds.shape[0] * ds.shape[1] * ds.shape[2]);
    const indices = Array.from({length: split.count}, (_, i) => i).filter((i) => shard === undefined || i % shard.count === shard.index - 1);
    return {name: ds.name, images: indices.length, shape: ds.shape, batches: memoryBatches((idx) => makeBatch(ds, split, idx, layout), indices, batchSize)};
  }
  const dir = fs.existsSync(path.join(data, 'val')) ? path.join(data, 'val') : data;
  const folder = scanImageFolder(dir);
  const samples = selectSamples(folder.samples, limit, shard);
  return {
    name: dir,
    images: samples.length,
    shape: [3, 224, 224],
    batches: loadBatches(samples, {transform: () => ({kind: 'eval', resize: 256, crop: 224}), batchSize, layout, size: 224, onSkip}),
  };
}
