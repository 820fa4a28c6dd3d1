import type {Source} from '../src/data/source';

/** A Source with no images: what an engine needs to know of the data (shape, classes) when a test feeds batches itself. */
export function shapeOnlySource(shape: readonly [number, number, number], numClasses: number): Source {
  return {
    kind: 'builtin',
    name: 'test-batches',
    shape,
    numClasses,
    labels: [],
    mean: Array.from({length: shape[0]}, () => 0),
    std: Array.from({length: shape[0]}, () => 1),
    test: {
      count: 0,
      async *batches() {
        return;
      },
    },
  };
}

/** NHWC → NCHW for one batch. */
export function toNCHW(x: ArrayLike<number>, n: number, [c, h, w]: readonly [number, number, number]): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch];
  return out;
}
