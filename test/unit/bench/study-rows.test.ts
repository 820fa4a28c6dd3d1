import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {meanCfs, studyTable, type StudyRow} from '../../../bench/study-rows';

const row = (method: string, quant: string, seed: number, top1: number, cfs?: number): StudyRow => ({seed, method, quant, top1, seconds: 1, ...(cfs !== undefined ? {cfs} : {})});

test('meanCfs: the mean over seeds in exponent notation, a dash for none', () => {
  assert.equal(meanCfs([1e-3, 3e-3]), '2.00e-3');
  assert.equal(meanCfs([]), '–');
});

test('studyTable: a CFS line per constrained method that carries one, per constraint, under the top-1 lines', () => {
  const rows = [
    row('float', 'none', 1, 0.9),
    row('ste', 'ter', 1, 0.8, 4e-2),
    row('ste', 'ter', 2, 0.82, 2e-2),
    row('cbp', 'ter', 1, 0.85, 1e-4),
    row('ste', 'bin', 1, 0.7, 5e-2),
    row('cbp', 'bin', 1, 0.75),
  ];
  const lines = studyTable(rows, () => undefined).trim().split('\n');
  assert.deepEqual(lines.slice(0, 5), ['| method | ter | bin |', '|---|---|---|', '| float | 90.00 | 90.00 |', '| ste | 81.00 ± 1.41 | 70.00 |', '| cbp | 85.00 | 75.00 |']);
  assert.equal(lines[5], '| ste CFS | 3.00e-2 | 5.00e-2 |');
  // The binary CBP row carries no CFS (a study from before CFS was recorded): a dash, not a zero.
  assert.equal(lines[6], '| cbp CFS | 1.00e-4 | – |');
});

test('studyTable: rows without CFS (results.json of older studies) get no CFS line', () => {
  const table = studyTable([row('float', 'none', 1, 0.9), row('ste', 'bin', 1, 0.7)], () => undefined);
  assert.doesNotMatch(table, /CFS/);
});
