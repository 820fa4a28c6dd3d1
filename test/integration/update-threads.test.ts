import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {createOrtEngine} from '../../src/train/ort/engine';
import {initialWeights} from '../../src/train/init';
import {getModel} from '../../models/index';
import {Rng} from '../../src/core/rng';
import {QUANTS} from '../../src/cbp/registry';
import {shapeOnlySource} from '../engine-helpers';

// The update pass split over two threads (update-threads.ts) must be the one-thread pass exactly: same weights,
// momentum, λ and λ's Adam moments, same loss and Lagrangian, step after step and across λ ascents — or a run
// would depend on the machine's core count and a resumed run on the machine it resumed on.
test('the ONNX Runtime engine gives bit-identical runs with its update on one thread and on two, every constraint, CBP and STE', async () => {
  const spec = getModel('resnet20', 10, [1, 28, 28], 2);
  const rng = new Rng(5);
  const n = 8;
  const batches = Array.from({length: 4}, () => ({x: Float32Array.from({length: n * 28 * 28}, () => rng.normal()), y: Int32Array.from({length: n}, () => Math.floor(rng.next() * 10)), count: n}));
  for (const quant of QUANTS) {
    for (const constraintTerm of [true, false]) {
      const runs = [];
      for (const updateThreads of [1, 2] as const) {
        const e = await createOrtEngine({spec, quant, weights: initialWeights(spec, quant, 3), weightDecay: 1e-4, lrLambda: 1e-2, constraintTerm, source: shapeOnlySource(spec.inputShape, 10), device: 'cpu', updateThreads});
        try {
          const results = [];
          e.ascendLambda(0, 1);
          for (const [i, batch] of batches.entries()) {
            results.push(await e.step(batch, 0.5, 0.05));
            if (i === 1) e.ascendLambda(0.5, 2);
          }
          runs.push({results, state: e.state()});
        } finally {
          await e.close();
        }
      }
      const [one, two] = runs;
      const what = `${quant}${constraintTerm ? ' CBP' : ' STE'}`;
      assert.deepEqual(two.results, one.results, `loss and Lagrangian per step, ${what}`);
      assert.deepEqual([...two.state.keys()].sort(), [...one.state.keys()].sort());
      for (const [key, t] of one.state) assert.deepEqual([...(two.state.get(key)?.data ?? [])], [...t.data], `${key}, ${what}`);
      // The run moved: the comparison is not between two untouched copies.
      const w0 = initialWeights(spec, quant, 3);
      assert.ok([...one.state].some(([k, t]) => k.endsWith('.weight') && t.data.some((v, i) => v !== w0.get(k)?.data[i])), `weights moved, ${what}`);
    }
  }
});
