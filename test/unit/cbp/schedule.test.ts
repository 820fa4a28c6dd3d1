import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {ascendLambdaArrays} from '../../../src/cbp/ascent';
import {LEVELS} from '../../../src/cbp/levels';
import {afterEpoch, initialSchedule, type ScheduleState} from '../../../src/cbp/schedule';

test('λ ascends when the Lagrangian sum stops falling, or after `period` epochs', () => {
  let s: ScheduleState = {...initialSchedule(), lambdaSteps: 1};
  const sums = [10, 9, 9.5, 8, 7, 6, 5];
  const updates: boolean[] = [];
  for (const lag of sums) {
    const d = afterEpoch(s, lag, 3);
    updates.push(d.updateLambda);
    s = d.next;
  }
  // 10 (first), 9 falls, 9.5 rises → update; 8 (first after reset), 7, 6 → third epoch since update → update; 5 first.
  assert.deepEqual(updates, [false, false, true, false, false, true, false]);
  assert.equal(s.g, 3);
  assert.equal(s.ucs, 1 - 1 / 3);
  assert.equal(s.lambdaSteps, 3);
});

test('g grows by 1 up to 10, then by 10; the learning rate drops ×0.1 when g reaches 20', () => {
  let s = initialSchedule();
  const gs: number[] = [];
  const lr: number[] = [];
  for (let i = 0; i < 12; i++) {
    s = afterEpoch(s, 1, 1).next;
    gs.push(s.g);
    lr.push(s.lrFactor);
  }
  assert.deepEqual(gs, [2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40]);
  assert.ok(Math.abs(lr[8] - 1) < 1e-12 && Math.abs(lr[9] - 0.1) < 1e-12 && Math.abs(lr[11] - 0.1) < 1e-12);
});

test('Adam ascent on λ: the first step raises λ by lr exactly where c(w) > 0, later steps follow Adam', () => {
  const s = 0.5;
  // bin at scale 0.5: with ucs 0 only weights beyond ±0.5 are penalised.
  const w = Float32Array.of(-0.9, -0.2, 0.3, 0.7);
  const state = {lambda: new Float32Array(4), m: new Float32Array(4), v: new Float32Array(4)};
  ascendLambdaArrays(state, w, s, LEVELS.bin, 0, 1e-2, 1);
  const l1 = [...state.lambda];
  // c = 2·0.4 = 0.8 and 2·0.2 = 0.4; Adam's first step is lr·c/(|c| + ε·…) ≈ lr.
  assert.ok(Math.abs(l1[0] - 1e-2) < 1e-7 && Math.abs(l1[3] - 1e-2) < 1e-7, `λ after one step ${l1}`);
  assert.equal(l1[1], 0);
  assert.equal(l1[2], 0);
  // Second step with the same gradient: m and v bias-corrected, so again +lr.
  ascendLambdaArrays(state, w, s, LEVELS.bin, 0, 1e-2, 2);
  assert.ok(Math.abs(state.lambda[0] - 2e-2) < 1e-7);
});
