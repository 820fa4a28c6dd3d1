import {CbpError} from '../core/errors';
import type {Dataset, DatasetFacts} from './dataset';
import {FASHION_MNIST_FACTS, MNIST_FACTS, loadFashionMnist, loadMnist} from './mnist';

export * from './dataset';

export const DATASETS = {
  mnist: loadMnist,
  'fashion-mnist': loadFashionMnist,
} as const satisfies Record<string, () => Dataset>;

export type DatasetName = keyof typeof DATASETS;
export const DATASET_NAMES = Object.keys(DATASETS).filter(isDatasetName);

/** Each built-in set's shape, statistics and class names, for model cards (no images are read). */
export const DATASET_FACTS: Record<DatasetName, DatasetFacts> = {mnist: MNIST_FACTS, 'fashion-mnist': FASHION_MNIST_FACTS};

export function isDatasetName(name: string): name is DatasetName {
  return Object.prototype.hasOwnProperty.call(DATASETS, name);
}

export function loadDataset(name: string): Dataset {
  if (!isDatasetName(name)) {
    throw new CbpError(`--data ${name}: unknown data set, expected one of ${DATASET_NAMES.join(', ')}`, 'UNKNOWN_CHOICE');
  }
  return DATASETS[name]();
}
