import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {readLabels} from '../../../src/data/labels';
import {openSource} from '../../../src/data/source';
import {cardOf, preprocessingOf} from '../../../src/app/card';
import {initialSchedule} from '../../../src/cbp/schedule';
import {getModel} from '../../../models/index';
import type {RunState} from '../../../src/run/checkpoint';
import {FIXTURES, tempDir} from '../../helpers';

const tmp = tempDir('cbp-labels-');

test('a labels file is one class name per line: a BOM, CRLF, spaces and a final newline are not part of the names', () => {
  const file = path.join(tmp, 'names.txt');
  fs.writeFileSync(file, '\uFEFFcat \r\n dog\r\nhot dog\r\n');
  assert.deepEqual(readLabels(file), ['cat', 'dog', 'hot dog']);
  fs.writeFileSync(file, '');
  assert.throws(() => readLabels(file, '--labels'), /--labels \S*names\.txt: no class names/);
});

test('class names come from the data: Fashion-MNIST\'s ten names, an image folder\'s class folders', () => {
  const state: RunState = {
    format: 'cbp-checkpoint', version: 1, epoch: 2, schedule: initialSchedule(), progress: [], backend: 'onnxruntime',
    config: {model: 'lenet5', quant: 'ter', data: 'fashion-mnist', numClasses: 10, seed: 1, batchSize: 64, lr: 1e-3, lrLambda: 1e-4, weightDecay: 1e-4, period: 20, limit: null, epochs: 2, init: null},
  };
  // A run from before origins were recorded: its labels follow from its data set.
  const card = cardOf({state, spec: getModel('lenet5', 10, [1, 28, 28]), weights: 'auto'}, {layers: [], opset: 21, irVersion: 10, onnxruntime: '1.20'});
  assert.deepEqual(card.labels, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
  assert.deepEqual(card.preprocessing.mean, [0.286]);
  assert.equal(card.source.kind, 'trained');
  const val = path.join(FIXTURES, 'imagenet', 'val');
  assert.deepEqual(openSource(val, {need: 'test'}).labels, fs.readdirSync(val).sort());
  assert.deepEqual(preprocessingOf(val, [3, 224, 224]), {known: true, layout: 'NCHW', shape: [3, 224, 224], colour: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 256, crop: 224});
});
