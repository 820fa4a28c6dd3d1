import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {editDistance, nearest} from '../../../commands/suggest';

test('edit distance counts insertions, deletions and substitutions', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('epoch', 'epochs'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('--batchsize', '--batch-size'), 1);
  assert.equal(editDistance('abc', ''), 3);
});

test('the nearest flag is offered for a slip, nothing for a flag far from all', () => {
  const flags = ['--epochs', '--engine', '--batch-size', '--lr', '--lr-lambda'];
  assert.equal(nearest('--epoch', flags), '--epochs');
  assert.equal(nearest('--batchsize', flags), '--batch-size');
  assert.equal(nearest('--lr-lamda', flags), '--lr-lambda');
  assert.equal(nearest('--something-else', flags), undefined);
});
