import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import {CbpError, errnoCode, errorMessage} from '../core/errors';
import {readBytes} from '../core/read';
import {Rng} from '../core/rng';
import {IMAGENET_MEAN, IMAGENET_STD} from './imagenet-stats';
import type {Layout} from './dataset';

/** The largest image file read (a 100-megapixel TIFF is about 300 MB). */
const MAX_IMAGE_BYTES = 512 * 1024 * 1024;

/** What torchvision's ImageFolder accepts, compared case-insensitively. */
const EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp']);

export interface Sample {
  readonly file: string;
  readonly label: number;
}

export interface ImageFolder {
  readonly root: string;
  /** Class names (the sub-folder names) sorted, so index i is class i as in torchvision. */
  readonly classes: readonly string[];
  readonly samples: readonly Sample[];
}

/** Lists an ImageNet-style folder: one sub-folder per class, images inside (searched recursively, sorted). */
export function scanImageFolder(root: string, flag = '--data'): ImageFolder {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, {withFileTypes: true});
  } catch (err) {
    throw new CbpError(`${flag} ${root}: cannot read the folder (${errnoCode(err) ?? errorMessage(err)})`, 'NO_FILE');
  }
  const classes = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (classes.length === 0) {
    throw new CbpError(`${flag} ${root}: no class sub-folders (expected ${root}/<class>/<image>, as ImageNet's train/ and val/ are laid out)`, 'BAD_FOLDER');
  }
  const samples: Sample[] = [];
  classes.forEach((cls, label) => {
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, {withFileTypes: true}).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (EXTENSIONS.has(path.extname(e.name).toLowerCase())) samples.push({file: full, label});
      }
    };
    walk(path.join(root, cls));
  });
  if (samples.length === 0) throw new CbpError(`${flag} ${root}: ${classes.length} class folders but no images in them`, 'BAD_FOLDER');
  return {root, classes, samples};
}

export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function parseShard(value: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const k = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || k < 1 || k > n) throw new CbpError(`--shard ${value}: expected K/N with 1 ≤ K ≤ N (e.g. 1/4)`);
  return {index: k, count: n};
}

/**
 * The samples one run evaluates: with a limit, evenly spread over the (class-sorted) list so every class is
 * represented; with a shard K/N, every N-th sample starting at K − 1, so N shards cover the set exactly once.
 */
export function selectSamples(samples: readonly Sample[], limit?: number, shard?: Shard): Sample[] {
  let out = [...samples];
  if (limit !== undefined && limit < out.length) {
    const total = out.length;
    out = Array.from({length: limit}, (_, i) => out[Math.floor((i * total) / limit)]);
  }
  if (shard !== undefined) out = out.filter((_, i) => i % shard.count === shard.index - 1);
  return out;
}

export interface Crop {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** torchvision's RandomResizedCrop box: ten tries at a random area and aspect ratio, then a centre crop. */
export function randomResizedCrop(width: number, height: number, rng: Rng, scale: [number, number] = [0.08, 1], ratio: [number, number] = [3 / 4, 4 / 3]): Crop {
  const area = width * height;
  const [lr0, lr1] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let i = 0; i < 10; i++) {
    const target = area * (scale[0] + rng.next() * (scale[1] - scale[0]));
    const aspect = Math.exp(lr0 + rng.next() * (lr1 - lr0));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return {left: Math.floor(rng.next() * (width - w + 1)), top: Math.floor(rng.next() * (height - h + 1)), width: w, height: h};
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return {left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h};
}

/** torchvision's Resize(256) size: the shorter side becomes `size`, the longer scales (truncated) with it. */
export function resizeShorter(width: number, height: number, size: number): [number, number] {
  return width <= height ? [size, Math.floor((size * height) / width)] : [Math.floor((size * width) / height), size];
}

export type Transform = {kind: 'eval'; resize: number; crop: number} | {kind: 'train'; crop: number; rng: Rng};

/**
 * Decodes one image (a file, or its bytes named by `name`) to RGB bytes (crop × crop × 3) under the transform.
 * Greyscale, CMYK and alpha come out RGB. Any decoding failure is a CbpError naming the image.
 */
export async function decodeRgb(source: string | Buffer, t: Transform, name = typeof source === 'string' ? source : 'image'): Promise<Uint8Array> {
  // Read by cbp, not by libvips: only a regular file (a symlink to /dev/zero or a FIFO would hang the decoder).
  const bytes = typeof source === 'string' ? readBytes(source, MAX_IMAGE_BYTES) : source;
  try {
    return await decode(bytes, t, name);
  } catch (err) {
    if (err instanceof CbpError) throw err;
    throw new CbpError(`${name}: cannot decode the image (${errorMessage(err).split('\n')[0]})`, 'BAD_IMAGE');
  }
}

async function decode(file: string | Buffer, t: Transform, name: string): Promise<Uint8Array> {
  const img = sharp(file, {failOn: 'error', limitInputPixels: 100_000_000});
  const meta = await img.metadata();
  const {width, height} = meta;
  if (!width || !height) throw new CbpError(`${name}: image has no size`);
  // PIL's convert('RGB') drops alpha before any resampling; libvips would resample premultiplied colour, so an
  // image with alpha is first flattened to plain RGB bytes.
  let pipeline = meta.hasAlpha
    ? sharp(await sharp(file, {failOn: 'error'}).toColourspace('srgb').removeAlpha().raw().toBuffer(), {raw: {width, height, channels: 3}})
    : sharp(file, {failOn: 'error'}).toColourspace('srgb');
  if (t.kind === 'eval') {
    const [w, h] = resizeShorter(width, height, t.resize);
    const left = Math.round((w - t.crop) / 2);
    const top = Math.round((h - t.crop) / 2);
    pipeline = pipeline.resize(w, h, {fit: 'fill', kernel: 'linear'}).extract({left, top, width: t.crop, height: t.crop});
  } else {
    const box = randomResizedCrop(width, height, t.rng);
    const flip = t.rng.next() < 0.5;
    pipeline = pipeline.extract(box).resize(t.crop, t.crop, {fit: 'fill', kernel: 'linear'});
    if (flip) pipeline = pipeline.flop();
  }
  const {data, info} = await pipeline.removeAlpha().raw().toBuffer({resolveWithObject: true});
  if (info.channels !== 3 || data.length !== t.crop * t.crop * 3) {
    throw new CbpError(`${name}: decoded to ${info.channels} channels, expected RGB`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Writes normalised RGB bytes into slot `index` of a batch buffer. */
export function normaliseInto(rgb: Uint8Array, out: Float32Array, index: number, size: number, layout: Layout, mean = IMAGENET_MEAN, std = IMAGENET_STD): void {
  const pixels = size * size;
  const base = index * pixels * 3;
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      const v = (rgb[p * 3 + c] / 255 - mean[c]) / std[c];
      out[layout === 'NCHW' ? base + c * pixels + p : base + p * 3 + c] = v;
    }
  }
}

export interface Batch {
  readonly x: Float32Array<ArrayBuffer>;
  readonly y: Int32Array;
  readonly count: number;
}

export interface LoaderOptions {
  readonly transform: (sampleIndex: number) => Transform;
  readonly batchSize: number;
  readonly layout: Layout;
  readonly size: number;
  /** Images decoded at once (sharp runs each on its own libuv worker). */
  readonly concurrency?: number;
  /** Batches decoded ahead of the consumer; memory stays at about (prefetch + 1) batches. */
  readonly prefetch?: number;
  readonly onSkip?: (file: string, reason: string) => void;
}

/**
 * Batches of decoded, transformed, normalised images, decoded concurrently with a bounded number of images and
 * batches in flight. A file that fails to decode is skipped (reported through onSkip) and its batch is shorter.
 */
export async function* loadBatches(samples: readonly Sample[], opts: LoaderOptions): AsyncGenerator<Batch> {
  const concurrency = opts.concurrency ?? 8;
  const prefetch = opts.prefetch ?? 2;
  const pixels = opts.size * opts.size * 3;
  const decodeBatch = async (start: number): Promise<Batch> => {
    const n = Math.min(opts.batchSize, samples.length - start);
    const images: (Uint8Array | null)[] = new Array(n).fill(null);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        const s = samples[start + i];
        try {
          images[i] = await decodeRgb(s.file, opts.transform(start + i));
        } catch (err) {
              opts.onSkip?.(s.file, errorMessage(err).split('\n')[0]);
        }
      }
    };
    await Promise.all(Array.from({length: Math.min(concurrency, n)}, worker));
    const ok = images.filter((im): im is Uint8Array => im !== null).length;
    const x = new Float32Array(ok * pixels);
    const y = new Int32Array(ok);
    let j = 0;
    images.forEach((im, i) => {
      if (im === null) return;
      normaliseInto(im, x, j, opts.size, opts.layout);
      y[j++] = samples[start + i].label;
    });
    return {x, y, count: ok};
  };
  const queue: Promise<Batch>[] = [];
  let start = 0;
  const fill = (): void => {
    while (queue.length < prefetch + 1 && start < samples.length) {
      queue.push(decodeBatch(start));
      start += opts.batchSize;
    }
  };
  fill();
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const batch = await next;
    fill();
    yield batch;
  }
}
