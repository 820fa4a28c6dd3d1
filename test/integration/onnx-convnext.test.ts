import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../src/core/errors';
import {importOnnx} from '../../src/app/import-onnx';
import {readCheckpoint} from '../../src/run/checkpoint';
import {decodeSafetensors, encodeSafetensors} from '../../src/run/safetensors';
import {paramInfos, valueShapes} from '../../models/spec';
import {FIXTURES, tempDir} from '../helpers';
import {handMadeClassifier, floatTensors, type Floats} from '../onnx-graphs';
import {exportImported, imageFolder, trainImported} from '../onnx-runs';

/**
 * torchvision's ConvNeXt through `cbp import`: a tiny one built from torchvision's own classes (ConvNeXt,
 * CNBlockConfig widths 8 and 16, one block each, 3×32×32; test/fixtures/scripts/make_onnx_fixtures.py) imported with
 * the file's logits — LayerNorm2d, depthwise 7×7 convolutions, the block's Linear layers on the channels-last
 * [H, W, C], GELU, the layer scale (models/kinds/layerscale.ts) — trained one ternary epoch on an image folder on the
 * ONNX Runtime engine, exported, verified and evaluated. The layer scale's backward is held to PyTorch's in
 * kind-grads.test.ts, one CBP step of such a ConvNeXt in onnx-step.test.ts.
 */

const tmp = tempDir('cbp-onnx-convnext-');
const fixture = path.join(FIXTURES, 'onnx', 'convnext.onnx');
const imported = path.join(tmp, 'convnext-import');
const BLOCKS = ['features.1.0', 'features.3.0'];

test('convnext.onnx (torchvision\'s ConvNeXt classes) imports with the file\'s logits; the layer scales are trainable tensors under their state_dict names, neither constrained nor decayed; the blocks\' Linear layers read channels-last values and are constrained', async () => {
  const r = await importOnnx({file: fixture, out: imported, quant: 'ter'});
  assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${r.maxDifference} (largest logit ${r.maxLogit})`);
  assert.deepEqual(r.constrained, ['features.1.0.block.0', 'features.1.0.block.3', 'features.1.0.block.5', 'features.2.1', 'features.3.0.block.0', 'features.3.0.block.3', 'features.3.0.block.5']);
  assert.deepEqual(r.fullPrecision, ['features.0.0', 'classifier.2']);
  const ck = readCheckpoint(imported);
  const spec = ck.state.config.spec ?? assert.fail('no spec');
  const scales = spec.nodes.filter((n) => n.kind === 'layerscale');
  assert.deepEqual(scales.map((n) => (n.kind === 'layerscale' ? [n.name, n.shape, n.param] : [])), [['features.1.0', [8, 1, 1], 'layer_scale'], ['features.3.0', [16, 1, 1], 'layer_scale']]);
  // The file's values (random, 0.2 to 1), not a fresh layer scale's 1e-6.
  for (const b of BLOCKS) {
    const t = ck.tensors.get(`${b}.layer_scale`) ?? assert.fail(`no ${b}.layer_scale`);
    assert.ok(t.data.every((v) => v >= 0.2 && v <= 1), b);
  }
  const infos = paramInfos(spec, 'ter').filter((i) => i.key.endsWith('layer_scale'));
  // Trainable, of a role of its own: the engines decay role `weight` only, and only weight layers are constrained.
  assert.deepEqual(infos.map((i) => [i.key, i.role, i.trainable]), BLOCKS.map((b) => [`${b}.layer_scale`, 'layer_scale', true]));
  // The block's Linear layers (dense on the last axis) read [H, W, C]: 8×8 after the stem, 4×4 after the downsampling.
  const shapes = valueShapes(spec);
  const dense = spec.nodes.filter((n) => n.kind === 'dense' && n.name.includes('.block.'));
  assert.deepEqual(dense.map((n) => (n.kind === 'dense' ? shapes.get(n.input) : [])), [[8, 8, 8], [8, 8, 32], [4, 4, 16], [4, 4, 64]]);
  assert.deepEqual(spec.nodes.map((n) => n.kind).filter((k) => k === 'layernorm').length, 5);
});

test('an import of convnext.onnx trains one ternary epoch on an image folder on the ONNX Runtime engine; the layer scales learn; its export verifies and evaluates to the training\'s top-1; the TensorFlow.js engine refuses it, naming the layer scales', () => {
  const data = imageFolder(path.join(tmp, 'folder'));
  const common = ['--data', data, '--batch-size', '6', '--no-plot'];
  const out = path.join(tmp, 'convnext-ter');
  const r = trainImported({
    imported, out, quant: 'ter', data: common,
    tfjsRefusal: /the TensorFlow\.js engine has no [a-z, ]*layerscale[a-z, ]* \(layers [^)]*features\.1\.0, [^)]*features\.3\.0/,
    learns: BLOCKS.map((b) => `${b}.layer_scale`),
  });
  exportImported(out, path.join(tmp, 'convnext-ter.onnx'), {data: ['--data', data], top1: r.epochs[0].top1});
});

/** A 1×4×4 classifier written by hand: Conv (2 channels, value `c`), then `body` (writing `a`), pooling, Gemm. */
const handMade = (name: string, body: object[], floats: Floats): string => handMadeClassifier(tmp, name, body, floatTensors(floats), {channels: 2, convBias: true, seed: 5});

test('a Mul by a module\'s parameter maps as a layer scale (either operand first, [C, 1, 1], [W], a leading batch 1, timm\'s gamma); by an anonymous constant or a Constant\'s output it stays refused; a parameter that does not broadcast is refused naming the node', async () => {
  const floats = {
    'blocks.0.ls1.gamma': {dims: [4], values: [0.5, -1, 2, 0.25]},
    'block.layer_scale': {dims: [2, 1, 1], values: [0.5, 2]},
    'block.batch_scale': {dims: [1, 2, 1, 1], values: [3, -0.5]},
    'onnx::Mul_3': {dims: [2, 1, 1], values: [0.5, 2]},
    '/block/Constant_output_0': {dims: [2, 1, 1], values: [0.5, 2]},
    'block.wide': {dims: [3, 1, 1], values: [1, 2, 3]},
    'block.tall': {dims: [2, 4, 4, 1], values: new Array<number>(32).fill(1)},
  };
  const mul = (inputs: string[]): object[] => [{name: '/block/Mul', op_type: 'Mul', input: inputs, output: ['a']}];
  const good: [string, object[], [number[], string, string]][] = [
    ['scale first', mul(['block.layer_scale', 'c']), [[2, 1, 1], 'layer_scale', 'block']],
    ['value first', mul(['c', 'block.layer_scale']), [[2, 1, 1], 'layer_scale', 'block']],
    ['gamma over the width', mul(['c', 'blocks.0.ls1.gamma']), [[4], 'gamma', 'blocks.0.ls1']],
    ['batch axis', mul(['block.batch_scale', 'c']), [[1, 2, 1, 1], 'weight', 'block.batch_scale']],
  ];
  for (const [what, body, [shape, param, name]] of good) {
    const out = path.join(tmp, `hand-${what.replace(/\W/g, '_')}`);
    const r = await importOnnx({file: handMade(what.replace(/\W/g, '_'), body, floats), out});
    assert.ok(r.maxDifference <= 1e-5 * Math.max(1, r.maxLogit), `${what}: ${r.maxDifference}`);
    const ck = readCheckpoint(out);
    const node = ck.state.config.spec?.nodes[1];
    assert.ok(node?.kind === 'layerscale', what);
    assert.deepEqual([node.shape, node.param, node.name], [shape, param, name], what);
    assert.deepEqual(ck.tensors.get(`${name}.${param}`)?.shape, shape, what);
  }
  const refused: [string, object[], RegExp][] = [
    ['anonymous', mul(['c', 'onnx::Mul_3']), /unsupported: Mul by a constant \(1 node: \/block\/Mul\)/],
    ['a Constant', mul(['/block/Constant_output_0', 'c']), /unsupported: Mul by a constant \(1 node: \/block\/Mul\)/],
    ['other channels', mul(['block.wide', 'c']), /unsupported: Mul by a parameter that does not broadcast onto the value \(each axis, from the last, equal or 1\) \(1 node: \/block\/Mul\)/],
    ['more axes', mul(['c', 'block.tall']), /unsupported: Mul by a parameter that does not broadcast onto the value .* \(1 node: \/block\/Mul\)/],
  ];
  for (const [what, body, re] of refused) {
    const out = path.join(tmp, `refused-${what.replace(/\W/g, '_')}`);
    await assert.rejects(importOnnx({file: handMade(`refused_${what.replace(/\W/g, '_')}`, body, floats), out}), (err: unknown) => {
      assert.ok(err instanceof CbpError && err.code === 'UNSUPPORTED_ONNX', what);
      assert.match(err.message, re, what);
      return true;
    });
    assert.ok(!fs.existsSync(out), `${what}: ${out} was written`);
  }
});

type State = {config: {spec: {nodes: Record<string, unknown>[]}}};

test('a stored spec whose layer scale lies (a shape that does not broadcast, a parameter name of no module) is refused on read, naming the layer or the field', () => {
  const lies: [string, Record<string, unknown>, RegExp][] = [
    ['shape', {shape: [16, 1, 1]}, /layer features\.1\.0 \(layerscale\) scales by a tensor of shape \[16, 1, 1\] that does not broadcast onto a value of shape \[8, 8, 8\]/],
    ['param', {param: 'alpha'}, /config\.spec\.nodes\[\d+\]\.param' is "alpha", expected one of layer_scale, gamma, weight/],
  ];
  for (const [what, change, re] of lies) {
    const dir = path.join(tmp, `lying-${what}`);
    fs.mkdirSync(dir, {recursive: true});
    const file = path.join(imported, 'weights.safetensors');
    const {tensors, metadata} = decodeSafetensors(fs.readFileSync(file), file);
    const state = JSON.parse(metadata['cbp.state']) as State;
    Object.assign(state.config.spec.nodes.find((n) => n.name === 'features.1.0') ?? assert.fail('no features.1.0'), change);
    fs.writeFileSync(path.join(dir, 'weights.safetensors'), encodeSafetensors(tensors, {'cbp.state': JSON.stringify(state)}));
    assert.throws(() => readCheckpoint(dir), (err: unknown) => err instanceof CbpError && err.code === 'BAD_CHECKPOINT' && re.test(err.message), what);
  }
});
