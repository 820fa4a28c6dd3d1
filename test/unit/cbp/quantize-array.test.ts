import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {LEVELS, quantizeArray, segments} from '../../../src/cbp/levels';
import {QUANTS} from '../../../src/cbp/registry';
import {Rng} from '../../../src/core/rng';

/**
 * The reference quantizer written out as its formula, (Σ_i (sign(w − mid_i·s) + 1)·gap_i/2 − 1)·s, every operation
 * rounded to float32 as PyTorch computes it, sign(0) = 0: what quantizeArray's lookup table must reproduce.
 */
function quantizeByFormula(w: Float32Array, scale: number, levels: readonly number[]): Float32Array {
  const f = Math.fround;
  const {gaps, mids} = segments(levels);
  return w.map((x) => {
    let acc = 0;
    for (let i = 0; i < gaps.length; i++) acc = f(acc + f((Math.sign(f(x - f(mids[i] * scale))) + 1) * f(gaps[i] / 2)));
    return f(f(acc - 1) * f(scale));
  });
}

test('the array quantizer (the one both engines are fed through) equals the reference formula in float32 bit for bit, midpoints, edges and NaN included', () => {
  for (const quant of QUANTS) {
    const rng = new Rng(9);
    const scale = Math.fround(0.0473);
    const levels = LEVELS[quant];
    const special = [...segments(levels).mids.map((m) => Math.fround(m * scale)), ...levels.map((l) => Math.fround(l * scale)), 0, -0, 5, -5, NaN];
    const w = Float32Array.from([...special, ...Array.from({length: 5000}, () => rng.normal() * scale)]);
    assert.deepEqual([...quantizeArray(w, scale, levels)], [...quantizeByFormula(w, scale, levels)], quant);
  }
});
