import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {constraintOnArrays, constraintValues, pieces} from '../../../src/cbp/constraint-arrays';
import {Rng} from '../../../src/core/rng';
import {LEVELS, quantizeArray} from '../../../src/cbp/levels';
import {SEED_QUANTS as QUANTS} from '../../../models/spec';
import {FIXTURES, maxAbsDiff} from '../../helpers';

interface Reference {
  scale: number;
  constraints: Record<string, {levels: number[]; w: number[]; quantized: number[]; by_ucs: {ucs: number; value: number[]; grad: number[]}[]}>;
}

// Made by test/fixtures/scripts/make_cbp_reference.py with PyTorch (the reference's autograd Functions).
const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'cbp_reference.json'), 'utf8')) as Reference;
const scale = Math.fround(ref.scale);

for (const quant of QUANTS) {
  const r = ref.constraints[quant];
  test(`${quant}: levels match the reference`, () => {
    assert.deepEqual([...LEVELS[quant]], r.levels);
  });

  test(`${quant}: quantizer matches PyTorch on a grid of weights, and every output is a level times the scale`, () => {
    const q = quantizeArray(Float32Array.from(r.w), scale, LEVELS[quant]);
    assert.ok(maxAbsDiff(q, r.quantized) < 1e-7, `max diff ${maxAbsDiff(q, r.quantized)}`);
    const allowed = LEVELS[quant].map((l) => Math.fround(l * scale));
    for (const v of q) assert.ok(allowed.includes(v), `${v} is not one of ${allowed.join(', ')}`);
  });

  test(`${quant}: weights within 1e-7 of a midpoint land on a level`, () => {
    const mids = LEVELS[quant].slice(1).map((l, i) => ((l + LEVELS[quant][i]) / 2) * scale);
    const near = mids.flatMap((m) => [m + 3e-8, m - 3e-8, Math.fround(m) + 1e-9]);
    const q = quantizeArray(Float32Array.from(near), scale, LEVELS[quant]);
    const allowed = LEVELS[quant].map((l) => Math.fround(l * scale));
    for (const v of q) assert.ok(allowed.includes(v), `${v} is not one of ${allowed.join(', ')}`);
  });

  for (const {ucs, value, grad} of r.by_ucs) {
    test(`${quant} ucs=${ucs}: c(w) and dc/dw match PyTorch`, () => {
      const c = constraintValues(Float32Array.from(r.w), scale, LEVELS[quant], ucs);
      assert.ok(maxAbsDiff(c, value) < 1e-6, `value diff ${maxAbsDiff(c, value)}`);
      // dc/dw through the one-pass form training uses, with λ = 1.
      const arrays = constraintOnArrays(Float32Array.from(r.w), new Float32Array(r.w.length).fill(1), scale, LEVELS[quant], ucs);
      assert.ok(maxAbsDiff(arrays.grad, grad) < 1e-4, `array-version gradient diff ${maxAbsDiff(arrays.grad, grad)}`);
      const total = value.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(arrays.value - total) < 1e-5 * Math.max(1, Math.abs(total)), `array-version Σc ${arrays.value} vs ${total}`);
    });
  }
}

test('the unconstrained window: with ucs = 0 only the outside penalty remains, with ucs = 1 the full triangles', () => {
  const s = 0.5;
  const w = Float32Array.of(-0.75, -0.25, 0, 0.25, 0.5, 0.75);
  // ter at scale 0.5: levels −0.5, 0, 0.5; midpoints ±0.25 where the triangle peaks at 0.5.
  assert.deepEqual([...constraintValues(w, s, LEVELS.ter, 0)], [0.5, 0, 0, 0, 0, 0.5]);
  assert.deepEqual([...constraintValues(w, s, LEVELS.ter, 1)], [0.5, 0.5, 0, 0.5, 0, 0.5]);
  // Halfway up the triangle (0.25 of 0.5) is inside the window for ucs 0.4 (0.25 > 0.2) and outside it for 0.6.
  const half = Float32Array.of(0.125);
  assert.deepEqual([...constraintValues(half, s, LEVELS.ter, 0.4)], [0]);
  assert.deepEqual([...constraintValues(half, s, LEVELS.ter, 0.6)], [0.25]);
});

/**
 * c(w) and dc/dw at one weight by the definition, written out as plainly as the reference states it (outside
 * penalty; per piece min(rising, falling) of the triangle, zeroed above the window; the slope per region), with the
 * same float32 thresholds: the oracle for the one-pass form's shortcuts at the thresholds.
 */
function byDefinition(x: number, s: number, levels: readonly number[], ucs: number): {c: number; slope: number} {
  const f = Math.fround;
  const {lo, hi, pieces: ps} = pieces(s, levels, ucs);
  if (x < lo) return {c: f(f(x - lo) * -2), slope: -2};
  if (x >= hi) return {c: f(f(x - hi) * 2), slope: 2};
  for (const q of ps) {
    if (!(x >= q.qlow && x < q.qhigh)) continue;
    const rising = f(f(x - q.qlow) / q.toMeanLow);
    const falling = f(f(x - q.qhigh) / q.toMeanHigh);
    const line = Math.max(0, f(Math.min(rising, falling) * q.height));
    const slope = x >= q.rlow && x < q.rhigh ? 0 : x < q.rlow ? q.slopeLow : q.slopeHigh;
    return {c: line > q.windowTop ? 0 : line, slope};
  }
  return {c: 0, slope: 1};
}

test('the one-pass array constraint equals c(w) by its definition on random weights and multipliers, thresholds included', () => {
  const rng = new Rng(5);
  const s = Math.fround(0.0371);
  for (const quant of QUANTS) {
    const levels = LEVELS[quant];
    // Random weights around the levels, plus every level, midpoint and window edge exactly.
    const special = levels.flatMap((l, i) => {
      const out = [Math.fround(l * s), Math.fround(-1.5 * s), Math.fround(1.5 * s)];
      if (i > 0) out.push(Math.fround(((l + levels[i - 1]) / 2) * s));
      return out;
    });
    const w = Float32Array.from([...special, ...Array.from({length: 5000}, () => rng.normal() * s * 1.2)]);
    const lambda = Float32Array.from(w, () => Math.abs(rng.normal()) * 1e-3);
    for (const ucs of [0, 0.5, 0.75, 0.9, 1]) {
      const {rlow, rhigh} = pieces(s, levels, ucs).pieces[0];
      const edges = Float32Array.of(...w, rlow, rhigh, Math.fround(rlow - 1e-9), Math.fround(rhigh - 1e-9));
      const lam = Float32Array.from(edges, (_, i) => lambda[i % lambda.length]);
      const arrays = constraintOnArrays(edges, lam, s, levels, ucs);
      let value = 0;
      const grad = new Float32Array(edges.length);
      for (let i = 0; i < edges.length; i++) {
        const d = byDefinition(edges[i], s, levels, ucs);
        value += Math.fround(d.c * lam[i]);
        grad[i] = Math.fround(d.slope * lam[i]);
      }
      assert.ok(Math.abs(arrays.value - value) <= 1e-5 * Math.max(1e-3, Math.abs(value)), `${quant} ucs ${ucs}: Σλc ${arrays.value} vs ${value}`);
      assert.equal(maxAbsDiff(arrays.grad, grad), 0, `${quant} ucs ${ucs}: gradient`);
    }
  }
});
