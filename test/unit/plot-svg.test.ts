import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {curvesSvg} from '../../src/app/plot';
import type {EpochRecord, RunConfig, RunState} from '../../src/run/checkpoint';

const config: RunConfig = {model: 'lenet5', quant: 'bin', data: 'mnist', numClasses: 10, seed: 1, batchSize: 256, lr: 1e-3, lrLambda: 1e-4, weightDecay: 1e-4, period: 20, limit: 512, epochs: 4, init: null};

function record(epoch: number, seconds = 5): EpochRecord {
  return {epoch, top1: 0.5 + epoch / 10, top5: 0.9, cfs: 0.1 / epoch, loss: 1 / epoch, lagrangian: 10 / epoch, ucs: 0.5, lambdaMean: 1e-3 * epoch, lambdaUpdated: epoch === 2, lr: 1e-3, seconds};
}

function state(c: RunConfig, epochs: number, seconds = 5): RunState {
  return {format: 'cbp-checkpoint', version: 1, config: c, epoch: epochs, progress: Array.from({length: epochs}, (_, i) => record(i + 1, seconds)),
    schedule: {g: 2, ucs: 0.5, sinceUpdate: 0, lagsumPrev: null, lrFactor: 1, lambdaSteps: 1}, backend: 'onnxruntime-cpu'};
}

test('curves of a float run have no CFS, λ or ucs panels; a constrained run has all six', () => {
  const float = curvesSvg(state({...config, quant: 'none'}, 3));
  const bin = curvesSvg(state(config, 3));
  assert.deepEqual([float.width, float.height], [1380, 360]);
  assert.deepEqual([bin.width, bin.height], [1380, 680]);
  assert.doesNotMatch(float.svg, /CFS|Lagrange multiplier|ucs|λ updated/);
  assert.match(bin.svg, /Constraint satisfaction \(CFS\)/);
  assert.match(bin.svg, /Mean Lagrange multiplier/);
  assert.equal((float.svg.match(/<path d="M/g) ?? []).length, 3);
  assert.equal((bin.svg.match(/<path d="M/g) ?? []).length, 6);
});
