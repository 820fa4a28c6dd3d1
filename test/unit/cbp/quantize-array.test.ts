import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {tf} from '../../../src/core/tf';
import {LEVELS, quantizeArray, segments} from '../../../src/cbp/levels';
import {quantizeValue} from '../../../src/train/tfjs/quantizer';
import {QUANTS} from '../../../src/cbp/registry';
import {Rng} from '../../../src/core/rng';

test('the array quantizer (fed to the ONNX Runtime engine) equals the tfjs quantizer bit for bit, midpoints, edges and NaN included', async () => {
  await tf.setBackend('cpu');
  for (const quant of QUANTS) {
    const rng = new Rng(9);
    const scale = Math.fround(0.0473);
    const levels = LEVELS[quant];
    const special = [...segments(levels).mids.map((m) => Math.fround(m * scale)), ...levels.map((l) => Math.fround(l * scale)), 0, -0, 5, -5, NaN];
    const w = Float32Array.from([...special, ...Array.from({length: 5000}, () => rng.normal() * scale)]);
    const expected = tf.tidy(() => quantizeValue(tf.tensor1d(w), scale, levels).dataSync());
    assert.deepEqual([...quantizeArray(w, scale, levels)], [...expected], quant);
  }
});
