import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {LEVELS, quantizeArray, segments} from '../../../src/cbp/levels';
import {constraintOnArrays, pieces} from '../../../src/cbp/constraint-arrays';
import {updateWeights} from '../../../src/cbp/update';
import {fusedUpdate} from '../../../src/cbp/fused';
import {QUANTS} from '../../../src/cbp/registry';
import {Rng} from '../../../src/core/rng';

/** Weights on every edge c(w) and the quantizer have: levels, midpoints, window edges, outside the range, NaN. */
function edgyWeights(scale: number, levels: readonly number[], ucs: number, rng: Rng): Float32Array {
  const {lo, hi, pieces: ps} = pieces(scale, levels, ucs);
  const edges = [lo, hi, ...ps.flatMap((p) => [p.qlow, p.qhigh, p.rlow, p.rhigh])];
  const near = edges.flatMap((e) => [e, Math.fround(e * (1 + 1e-7)), Math.fround(e * (1 - 1e-7))]);
  const mids = segments(levels).mids.map((m) => Math.fround(m * scale));
  return Float32Array.from([...near, ...mids, 0, -0, 1, -1, 3, -3, NaN, ...Array.from({length: 4000}, () => rng.normal() * scale * 1.5)]);
}

test('the fused update pass equals constraint term + update + quantizer run one after the other, bit for bit', () => {
  for (const quant of QUANTS) {
    for (const ucs of [0, 0.5, 0.9]) {
      for (const [withLambda, lr] of [[true, 0.01], [false, 0.01], [true, 0]] as const) {
        const rng = new Rng(17);
        const scale = Math.fround(0.0473);
        const levels = LEVELS[quant];
        const w0 = edgyWeights(scale, levels, ucs, rng);
        const n = w0.length;
        const grad = Float32Array.from({length: n}, (_, i) => (i % 97 === 0 ? 3 : rng.normal() * 0.05));
        const lambda = Float32Array.from({length: n}, () => rng.next() * 1e-2);
        const m0 = Float32Array.from({length: n}, () => rng.normal() * 0.01);
        // lr 0 leaves the weights where they are, midpoints included, for the quantizer's ties.
        const rule = {lr, weightDecay: 1e-4, clamp: true};
        // The three passes.
        const w1 = Float32Array.from(w0);
        const m1 = Float32Array.from(m0);
        const c = withLambda ? constraintOnArrays(w1, lambda, scale, levels, ucs) : undefined;
        updateWeights(w1, grad, m1, rule, c?.grad);
        const q1 = quantizeArray(w1, scale, levels);
        // The fused pass, in two ranges as a worker split would run it.
        const w2 = Float32Array.from(w0);
        const m2 = Float32Array.from(m0);
        const q2 = new Float32Array(n);
        const layer = {scale, levels, lambda: withLambda ? lambda : undefined, quantized: q2};
        const half = Math.floor(n / 2);
        const value = fusedUpdate(w2, grad, m2, rule, layer, ucs, 0, half) + fusedUpdate(w2, grad, m2, rule, layer, ucs, half, n);
        const what = `${quant} ucs ${ucs} lr ${lr}${withLambda ? ' with λ' : ''}`;
        assert.deepEqual([...w2], [...w1], `weights, ${what}`);
        assert.deepEqual([...m2], [...m1], `momentum, ${what}`);
        assert.deepEqual([...q2], [...q1], `quantized, ${what}`);
        if (c === undefined) {
          assert.equal(value, 0);
          continue;
        }
        assert.ok(Number.isNaN(value) && Number.isNaN(c.value), `Σλc with a NaN weight, ${what}`);
        // Σ λ⊙c(w) without the NaN weight: the same sum as the separate constraint pass.
        const finite = [...w0.keys()].filter((i) => !Number.isNaN(w0[i]));
        const pick = (a: Float32Array): Float32Array => Float32Array.from(finite, (i) => a[i]);
        const lf = pick(lambda);
        const expected = constraintOnArrays(pick(w0), lf, scale, levels, ucs).value;
        const got = fusedUpdate(pick(w0), pick(grad), pick(m0), rule, {scale, levels, lambda: lf, quantized: new Float32Array(finite.length)}, ucs);
        assert.ok(expected > 0 && got === expected, `Σλc ${got} vs ${expected}, ${what}`);
      }
    }
  }
});
