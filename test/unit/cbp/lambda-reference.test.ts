import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {ascendLambdaArrays} from '../../../src/cbp/ascent';
import {CbpState} from '../../../src/cbp/state';
import {STATE_KEYS} from '../../../src/train/state-keys';
import {LEVELS} from '../../../src/cbp/levels';
import {isQuant} from '../../../src/cbp/registry';
import {FIXTURES} from '../../helpers';
import {assertClose} from './torch-fixture';

interface LambdaReference {
  lr: number;
  layers: {quant: string; levels: number[]; scale: number; steps: {ucs: number; w: number[]; lambda: number[]; m: number[]; v: number[]}[]}[];
}

// Made by test/fixtures/scripts/make_lambda_reference.py: the reference's λ ascent with torch.optim.Adam.
const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'lambda_reference.json'), 'utf8')) as LambdaReference;

for (const layer of ref.layers) {
  test(`${layer.quant}: ascendLambdaArrays (the ascent both engines run) follows PyTorch's Adam over consecutive ascents (λ and its m, v state)`, () => {
    const quant = layer.quant;
    assert.ok(isQuant(quant), quant);
    const n = layer.steps[0].w.length;
    const state = {lambda: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n)};
    for (const [k, step] of layer.steps.entries()) {
      ascendLambdaArrays(state, Float32Array.from(step.w), Math.fround(layer.scale), LEVELS[quant], step.ucs, ref.lr, k + 1);
      assertClose(state.lambda, step.lambda, `ascent ${k + 1} (ucs ${step.ucs.toFixed(3)}) λ`);
      assertClose(state.m, step.m, `ascent ${k + 1} Adam m`);
      assertClose(state.v, step.v, `ascent ${k + 1} Adam v`);
    }
  });

  test(`${layer.quant}: the CBP state's consecutive λ ascents, with the weights and ucs changing in between, follow PyTorch's Adam (λ and its m, v state)`, async () => {
    const quant = layer.quant;
    assert.ok(isQuant(quant), quant);
    assert.deepEqual([...LEVELS[quant]], layer.levels);
    const n = layer.steps[0].w.length;
    const state = CbpState.create({
      trainable: [{key: 'l.weight', shape: [n], value: new Float32Array(n), decay: true}],
      constrained: [{name: 'l', weightKey: 'l.weight', scale: Math.fround(layer.scale), levels: LEVELS[quant]}],
      keys: STATE_KEYS,
      weightDecay: 0,
      lrLambda: ref.lr,
      constraintTerm: true,
      threads: 1,
    });
    try {
      const [l] = state.layers;
      for (const [k, step] of layer.steps.entries()) {
        state.latent('l.weight').set(step.w);
        state.ascendLambda(step.ucs, k + 1);
        assertClose(l.lambda.lambda, step.lambda, `ascent ${k + 1} (ucs ${step.ucs.toFixed(3)}) λ`);
        assertClose(l.lambda.m, step.m, `ascent ${k + 1} Adam m`);
        assertClose(l.lambda.v, step.v, `ascent ${k + 1} Adam v`);
      }
    } finally {
      await state.close();
    }
  });
}
