import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {runStatus} from '../../src/app/serve/catalog';
import {labelsOf, preprocessingOf, type CardNotes} from '../../src/app/serve/page-input';
import {ServedRoot} from '../../src/app/serve/paths';
import {trainCommand} from '../../src/app/serve/views';
import {CbpError} from '../../src/core/errors';
import {RUN_CONFIG, runState} from '../run-state';
import {tempDir} from '../helpers';


test('a run is finished at its configured epochs, running while its files change, stopped when they have been still for long', () => {
  const now = 1_000_000_000;
  assert.equal(runStatus(runState(RUN_CONFIG, 4), now - 3_600_000, now), 'finished');
  assert.equal(runStatus(runState(RUN_CONFIG, 2), now - 10_000, now), 'running');
  // Still for longer than a minute (its epochs take 5 s): stopped.
  assert.equal(runStatus(runState(RUN_CONFIG, 2), now - 61_000, now), 'stopped');
  // Epochs of 10 minutes: half an hour of quiet is still one epoch in progress.
  assert.equal(runStatus(runState(RUN_CONFIG, 2, 600), now - 1_700_000, now), 'running');
  assert.equal(runStatus(runState(RUN_CONFIG, 2, 600), now - 1_900_000, now), 'stopped');
});

test('preprocessing comes from the metadata when it fits the input, from the input shape otherwise', () => {
  const notes: CardNotes = {warnings: []};
  const mnist = preprocessingOf({'cbp.input_mean': '[0.1307]', 'cbp.input_std': '[0.3081]'}, ['batch', 1, 28, 28], notes);
  assert.deepEqual({...mnist}, {channels: 1, height: 28, width: 28, mean: [0.1307], std: [0.3081], resize: null, from: ['cbp.input_mean', 'cbp.input_std'], drawable: true});
  assert.deepEqual(notes.warnings, []);

  // A JSON object under cbp.preprocessing wins over single keys; a one-value mean covers every channel.
  const obj = preprocessingOf({'cbp.preprocessing': JSON.stringify({mean: 0.5, std: [0.2, 0.3, 0.4], resize: 320}), 'cbp.input_mean': '[0, 0, 0]'}, ['N', 3, 288, 288], notes);
  assert.deepEqual(obj.mean, [0.5, 0.5, 0.5]);
  assert.deepEqual(obj.std, [0.2, 0.3, 0.4]);
  assert.equal(obj.resize, 320);
  assert.deepEqual(obj.from, ['cbp.preprocessing.mean', 'cbp.preprocessing.std', 'cbp.preprocessing.resize']);
  assert.equal(obj.drawable, false);

  // Nothing usable: ImageNet's resize-and-crop for a 224 colour input, mean 0, std 1, each refusal a warning.
  const bad: CardNotes = {warnings: []};
  const none = preprocessingOf({'cbp.input_mean': '[1, 2]', 'cbp.input_std': '[0, 1, 1]', 'cbp.resize': '"big"'}, ['batch', 3, 224, 224], bad);
  assert.deepEqual([none.mean, none.std, none.resize], [[0, 0, 0], [1, 1, 1], 256]);
  assert.equal(bad.warnings.length, 3);
  assert.deepEqual(preprocessingOf({}, ['batch', 'c', 'h', 'w'], bad).channels, 3);
});

test('labels from cbp.labels, else the built-in data set, else indices', () => {
  const notes: CardNotes = {warnings: []};
  assert.deepEqual(labelsOf({'cbp.labels': '["cat", "dog", "eel"]'}, 3, notes), {labels: ['cat', 'dog', 'eel'], from: 'cbp.labels'});
  assert.deepEqual(labelsOf({'cbp.labels': '["cat"]'}, 2, notes).labels, ['cat', '1']);
  assert.equal(notes.warnings.length, 1);
  assert.equal(labelsOf({'cbp.data': 'fashion-mnist'}, 10, notes).labels[9], 'Ankle boot');
  assert.deepEqual(labelsOf({'cbp.labels': '{"a": 1}'}, 2, notes).labels, ['0', '1']);
});

test('the served root refuses .., absolute paths, NULs and symlinks that point out', () => {
  const tmp = tempDir('cbp-root-');
  try {
    const root = path.join(tmp, 'root');
    fs.mkdirSync(path.join(root, 'a'), {recursive: true});
    fs.writeFileSync(path.join(root, 'a', 'm.onnx'), 'x');
    fs.writeFileSync(path.join(tmp, 'secret.onnx'), 'x');
    fs.symlinkSync(path.join(tmp, 'secret.onnx'), path.join(root, 'out.onnx'));
    fs.symlinkSync(path.join(root, 'a', 'm.onnx'), path.join(root, 'in.onnx'));
    const served = new ServedRoot(root);
    assert.equal(served.resolve('a/m.onnx'), fs.realpathSync(path.join(root, 'a', 'm.onnx')));
    assert.equal(served.resolve('in.onnx'), fs.realpathSync(path.join(root, 'a', 'm.onnx')));
    for (const rel of ['../secret.onnx', 'a/../../secret.onnx', path.join(tmp, 'secret.onnx'), 'out.onnx', 'a\\..\\..\\secret.onnx', 'a/m.onnx\0']) {
      assert.throws(() => served.resolve(rel), (e: unknown) => e instanceof CbpError && e.code === 'OUTSIDE_ROOT', rel);
    }
    assert.throws(() => served.resolve('a/none.onnx'), (e: unknown) => e instanceof CbpError && e.code === 'NO_FILE');
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
});

test('a run page gives the cbp train command that starts the same run', () => {
  assert.equal(trainCommand({...RUN_CONFIG, method: 'ste', init: 'runs/my float'}, 'runs/x'),
    "cbp train --model lenet5 --quant bin --data mnist --epochs 4 --limit 512 --init 'runs/my float' --method ste --seed 1 --batch-size 256 --lr 0.001 --lr-lambda 0.0001 --weight-decay 0.0001 --period 20 --out runs/x");
  // The run's test limit is part of what it is: its top-1 figures came from that many test images.
  assert.match(trainCommand({...RUN_CONFIG, testLimit: 256}, 'runs/x'), / --limit 512 --test-limit 256 --seed 1 /);
});
