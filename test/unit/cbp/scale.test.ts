import {test} from 'node:test';
import assert from 'node:assert/strict';
import {initialScale} from '../../../src/cbp/scale';
import {initialWeights} from '../../../src/train/init';
import {getModel} from '../../../models/index';

test('the scale CBP starts from is mean |w| of the layer, computed by hand', () => {
  assert.equal(initialScale(Float32Array.of(0.5, -1, 0, 0.25)), (0.5 + 1 + 0 + 0.25) / 4);
  assert.equal(initialScale([-2]), 2);
});

test('a layer with all-zero (or no) starting weights gets scale 1, the latent weights\' bound, never 0', () => {
  assert.equal(initialScale(new Float32Array(9)), 1);
  assert.equal(initialScale([]), 1);
});

test('fresh weights carry the scale initialScale gives for each constrained layer', () => {
  const spec = getModel('lenet5', 10, [1, 28, 28]);
  const w = initialWeights(spec, 'ter', 3);
  const scales = [...w.keys()].filter((k) => k.endsWith('.scale'));
  assert.ok(scales.length > 0);
  for (const key of scales) {
    const weight = w.get(key.replace(/\.scale$/, '.weight'));
    assert.ok(weight !== undefined);
    assert.equal(w.get(key)?.data[0], Math.fround(initialScale(weight.data)), key);
  }
});
