import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {curvesSvg} from '../../src/app/plot';
import {RUN_CONFIG, runState} from '../run-state';


test('curves of a float run have no CFS, λ or ucs panels; a constrained run has all six', () => {
  const float = curvesSvg(runState({...RUN_CONFIG, quant: 'none'}, 3));
  const bin = curvesSvg(runState(RUN_CONFIG, 3));
  assert.deepEqual([float.width, float.height], [1380, 360]);
  assert.deepEqual([bin.width, bin.height], [1380, 680]);
  assert.doesNotMatch(float.svg, /CFS|Lagrange multiplier|ucs|λ updated/);
  assert.match(bin.svg, /Constraint satisfaction \(CFS\)/);
  assert.match(bin.svg, /Mean Lagrange multiplier/);
  assert.equal((float.svg.match(/<path d="M/g) ?? []).length, 3);
  assert.equal((bin.svg.match(/<path d="M/g) ?? []).length, 6);
});
