import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {cardWarnings} from '../../src/app/card-check';
import {cardText, checkpointCard} from '../../src/app/card';
import {DATASET_FACTS} from '../../src/data/index';
import {IMAGENET_MEAN, IMAGENET_STD} from '../../src/data/imagenet-stats';
import type {DataFacts} from '../../src/eval/evaluate';
import {getModel} from '../../models/index';
import {RUN_CONFIG, runState} from '../run-state';

const builtin = (name: 'mnist' | 'fashion-mnist'): DataFacts => {
  const f = DATASET_FACTS[name];
  return {name, kind: 'builtin', shape: [1, 28, 28], numClasses: 10, labels: f.labels, mean: f.mean, std: f.std};
};

/** The metadata an export of a run writes (its model card), from the run state as `cbp export` builds it. */
function metadataOf(data: string, shape: readonly [number, number, number], numClasses: number, labels?: readonly string[]): Record<string, string> {
  const spec = getModel('lenet5', numClasses, shape);
  const state = runState({...RUN_CONFIG, data, numClasses}, 1);
  return cardText(checkpointCard(labels !== undefined ? {...state, origin: {kind: 'train', version: '0.1.0', labels}} : state, spec)).metadata;
}

test('an MNIST model on Fashion-MNIST is warned about in one sentence naming the file and both data sets; on MNIST it is not', () => {
  const mnist = metadataOf('mnist', [1, 28, 28], 10);
  assert.deepEqual(cardWarnings('m.onnx', mnist, builtin('fashion-mnist')), ['m.onnx was trained on mnist (cbp.data); evaluating on fashion-mnist']);
  assert.deepEqual(cardWarnings('m.onnx', mnist, builtin('mnist')), []);
  // A file from before model cards says its data in its old key.
  assert.deepEqual(cardWarnings('old.onnx', {'cbp.data': 'fashion-mnist'}, builtin('mnist')), ['old.onnx was trained on fashion-mnist (cbp.data); evaluating on mnist']);
  // Nothing recorded: nothing to compare.
  assert.deepEqual(cardWarnings('bare.onnx', {}, builtin('mnist')), []);
});

test('on image folders the class names are compared output by output, and the normalisation with the card\'s', () => {
  const folder = (name: string, labels: readonly string[], mean = IMAGENET_MEAN, std = IMAGENET_STD): DataFacts => ({name, kind: 'folder', shape: [3, 32, 32], numClasses: labels.length, labels, mean, std});
  const meta = metadataOf('data/pets', [3, 32, 32], 3, ['cat', 'dog', 'fox']);
  // The training folder and an evaluation folder are different paths of the same data: not a warning.
  assert.deepEqual(cardWarnings('pets.onnx', meta, folder('data/pets-val', ['cat', 'dog', 'fox'])), []);
  // A folder of a subset is labelled in sorted order: the first classes must be the model's first.
  assert.deepEqual(cardWarnings('pets.onnx', meta, folder('data/pets-val', ['cat', 'dog'])), []);
  assert.deepEqual(cardWarnings('pets.onnx', meta, folder('data/some', ['cat', 'fox'])), [
    "pets.onnx: output 1 is 'dog' (cbp.labels), but class 1 of data/some is 'fox'; the data's classes are not the model's, in its order",
  ]);
  // Class names in other terms (a folder's WordNet ids against names a user gave): not comparable, not a warning.
  assert.deepEqual(cardWarnings('pets.onnx', meta, folder('data/wnids', ['n02123045', 'n02085620'])), []);
  assert.deepEqual(cardWarnings('pets.onnx', meta, folder('data/pets-val', ['cat', 'dog'], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25])), [
    'pets.onnx was trained on inputs normalised with mean 0.485, 0.456, 0.406, std 0.229, 0.224, 0.225 (cbp.preprocessing); data/pets-val is normalised with mean 0.5, 0.5, 0.5, std 0.25, 0.25, 0.25',
  ]);
});

test('a model card that cannot be read is a warning, not a failure of the evaluation', () => {
  assert.deepEqual(cardWarnings('bad.onnx', {'cbp.labels': '{'}, builtin('mnist')), ["bad.onnx: its model card cannot be read (bad.onnx: metadata 'cbp.labels' is not JSON); the data is not checked against it"]);
});
