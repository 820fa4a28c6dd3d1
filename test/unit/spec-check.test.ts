import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {CbpError} from '../../src/core/errors';
import {MODEL_NAMES, checkSpec, getModel} from '../../models/index';
import {StateReader} from '../../src/run/state-reader';
import {readSpec} from '../../src/run/spec-schema';

test('every registered model passes checkSpec and survives a run state round trip through readSpec unchanged', () => {
  for (const name of MODEL_NAMES) {
    const spec = getModel(name);
    checkSpec(spec, name, 'BAD_CHECKPOINT');
    const back = readSpec(new StateReader('state.json'), JSON.parse(JSON.stringify(spec)));
    assert.deepEqual(back, JSON.parse(JSON.stringify(spec)), name);
  }
});

test('checkSpec names the layer and what is wrong with it', () => {
  const spec = getModel('lenet5');
  const cases: [typeof spec, RegExp][] = [
    [{...spec, nodes: spec.nodes.map((n) => (n.name === 'fc1' && n.kind === 'dense' ? {...n, inFeatures: 7} : n))}, /layer fc1 \(dense\) expects \[7\] features, its input is \[800\]/],
    [{...spec, nodes: [...spec.nodes, spec.nodes[0]]}, /two layers are named 'conv1'/],
    [{...spec, numClasses: 11}, /the output fc2 gives \[10\] per image, expected \[11\]/],
    [{...spec, nodes: spec.nodes.map((n) => (n.name === 'pool1' && n.kind === 'maxpool' ? {...n, kernel: [40, 40] as const} : n))}, /layer pool1 \(maxpool\) has a 40×40 window larger than its padded 24×24 input/],
  ];
  for (const [bad, re] of cases) {
    assert.throws(() => checkSpec(bad, 'lenet5', 'BAD_CHECKPOINT'), (err: unknown) => err instanceof CbpError && err.code === 'BAD_CHECKPOINT' && re.test(err.message), String(re));
  }
});
