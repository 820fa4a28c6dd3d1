/** An in-memory image classification set: images NCHW-flat in [0,255] bytes, labels as class indices. */
export interface Split {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

/** What a built-in set's models need at deployment (shape, statistics, class names), known without reading images. */
export interface DatasetFacts {
  readonly name: string;
  /** Channels, height, width. */
  readonly shape: readonly [number, number, number];
  readonly numClasses: number;
  /** Per-channel mean and std applied to x/255. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Class names in label order. */
  readonly labels: readonly string[];
}

export interface Dataset extends DatasetFacts {
  readonly train: Split;
  readonly test: Split;
}

export function limitSplit(split: Split, limit: number | undefined, pixels: number): Split {
  if (limit === undefined || limit >= split.count) return split;
  return {images: split.images.subarray(0, limit * pixels), labels: split.labels.subarray(0, limit), count: limit};
}

export type Layout = 'NHWC' | 'NCHW';

/** Normalised float batch for the given sample indices: NHWC for tfjs, NCHW for ONNX Runtime. */
export function makeBatch(ds: Dataset, split: Split, indices: ArrayLike<number>, layout: Layout): {x: Float32Array<ArrayBuffer>; y: Int32Array} {
  const [c, h, w] = ds.shape;
  const pixels = c * h * w;
  const x = new Float32Array(indices.length * pixels);
  const y = new Int32Array(indices.length);
  const scale = ds.mean.map((_, ch) => 1 / (255 * ds.std[ch]));
  const shift = ds.mean.map((m, ch) => m / ds.std[ch]);
  const [pixelStride, channelStride] = layout === 'NHWC' ? [c, 1] : [1, h * w];
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    y[b] = split.labels[i];
    const src = i * pixels;
    const dst = b * pixels;
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < h * w; p++) {
        x[dst + p * pixelStride + ch * channelStride] = split.images[src + ch * h * w + p] * scale[ch] - shift[ch];
      }
    }
  }
  return {x, y};
}

