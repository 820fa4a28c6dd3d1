import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {constraintOnArrays, constraintValues} from '../../../src/cbp/constraint-arrays';
import {LEVELS} from '../../../src/cbp/levels';
import {isQuant} from '../../../src/cbp/registry';
import {FIXTURES} from '../../helpers';

interface WindowCase {
  quant: string;
  scale: number;
  ucs: number;
  w: number[];
  value: number[];
  slope: number[];
}

// Made by test/fixtures/scripts/make_window_reference.py: weights on (and one float32 step either side of) the edges
// of the unconstrained window where PyTorch's float32 product with ucs differs from a float64 one.
const {cases} = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'window_reference.json'), 'utf8')) as {cases: WindowCase[]};

test('c(w) and its slope at the window edges match PyTorch, which multiplies by ucs in float32', () => {
  assert.ok(cases.length >= 12);
  for (const c of cases) {
    if (!isQuant(c.quant)) throw new Error(`fixture names unknown constraint ${c.quant}`);
    const w = Float32Array.from(c.w);
    const scale = Math.fround(c.scale);
    const where = `${c.quant}, scale ${c.scale}, ucs ${c.ucs}, w ${c.w.join(', ')}`;
    assert.deepEqual([...constraintValues(w, scale, LEVELS[c.quant], c.ucs)], c.value.map(Math.fround), `c(w) at ${where}`);
    assert.deepEqual([...constraintOnArrays(w, new Float32Array(w.length).fill(1), scale, LEVELS[c.quant], c.ucs).grad], c.slope.map(Math.fround), `slope at ${where}`);
  }
});
