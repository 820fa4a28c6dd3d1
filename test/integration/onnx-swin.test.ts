import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../src/core/errors';
import {ModelProto} from '../../onnx/schema';
import {importOnnx} from '../../src/app/import-onnx';
import {readCheckpoint} from '../../src/run/checkpoint';
import {paramInfos, valueShapes} from '../../models/spec';
import {relativeIndex, shiftMask} from '../../models/kinds/relbias';
import {FIXTURES, tempDir} from '../helpers';
import {exportImported, imageFolder, trainImported} from '../onnx-runs';

/**
 * torchvision's Swin Transformer through `cbp import`: a small one built from torchvision's own classes
 * (SwinTransformer, patch 4, width 16, depths [2, 2], heads [2, 4], window 4, 3×28×28;
 * test/fixtures/scripts/make_onnx_fixtures.py), whose first stage pads 7×7 patches to 8×8 and shifts its second
 * block's windows, imported with the file's logits — the shifted-window attention rewritten with the windows per
 * sample (onnx/import/swin.ts: models/kinds/windows.ts, relbias.ts), PatchMerging's padding, strided slices and
 * concatenation on the channels — trained one ternary epoch on an image folder on the ONNX Runtime engine,
 * exported, verified and evaluated.
 */

const tmp = tempDir('cbp-onnx-swin-');
const fixture = path.join(FIXTURES, 'onnx', 'swin_torchvision.onnx');
const imported = path.join(tmp, 'swin-import');
const BLOCKS = ['features.1.0', 'features.1.1', 'features.3.0', 'features.3.1'];

test('swin_torchvision.onnx (torchvision\'s SwinTransformer classes) imports with the file\'s logits; every dense layer but the patch embedding and the head constrained; the windows per sample; the relative position tables trainable under their state_dict names, read back from the gathered constants torch wrote', async () => {
  const r = await importOnnx({file: fixture, out: imported, quant: 'ter'});
  assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${r.maxDifference} (largest logit ${r.maxLogit})`);
  assert.deepEqual(r.fullPrecision, ['features.0.0', 'head']);
  assert.deepEqual(r.constrained, [...BLOCKS.slice(0, 2).flatMap((b) => [`${b}.attn.qkv`, `${b}.attn.proj`, `${b}.mlp.0`, `${b}.mlp.3`]), 'features.2.reduction', ...BLOCKS.slice(2).flatMap((b) => [`${b}.attn.qkv`, `${b}.attn.proj`, `${b}.mlp.0`, `${b}.mlp.3`])]);
  const ck = readCheckpoint(imported);
  const spec = ck.state.config.spec ?? assert.fail('no spec');
  const shapes = valueShapes(spec);
  // Stage 1: 7×7 padded to 8×8, 4 windows of 16 tokens, the second block shifted by 2; stage 2: one 4×4 window, unshifted.
  const windows = spec.nodes.filter((n) => n.kind === 'windows');
  assert.deepEqual(windows.map((n) => (n.kind === 'windows' ? [n.size, n.window, n.shift, n.merge === true, shapes.get(n.name)] : [])), [
    [[7, 7], [4, 4], [0, 0], false, [4, 16, 16]], [[7, 7], [4, 4], [0, 0], true, [7, 7, 16]],
    [[7, 7], [4, 4], [2, 2], false, [4, 16, 16]], [[7, 7], [4, 4], [2, 2], true, [7, 7, 16]],
    [[4, 4], [4, 4], [0, 0], false, [1, 16, 32]], [[4, 4], [4, 4], [0, 0], true, [4, 4, 32]],
    [[4, 4], [4, 4], [0, 0], false, [1, 16, 32]], [[4, 4], [4, 4], [0, 0], true, [4, 4, 32]],
  ]);
  const biases = spec.nodes.filter((n) => n.kind === 'relbias');
  assert.deepEqual(biases.map((n) => (n.kind === 'relbias' ? [n.name, n.heads, n.shift, shapes.get(n.name)] : [])), [
    ['features.1.0.attn', 2, [0, 0], [4, 2, 16, 16]], ['features.1.1.attn', 2, [2, 2], [4, 2, 16, 16]],
    ['features.3.0.attn', 4, [0, 0], [1, 4, 16, 16]], ['features.3.1.attn', 4, [0, 0], [1, 4, 16, 16]],
  ]);
  const infos = paramInfos(spec, 'ter').filter((i) => i.key.endsWith('relative_position_bias_table'));
  assert.deepEqual(infos.map((i) => [i.key, i.shape, i.role, i.trainable]), BLOCKS.map((b, i) => [`${b}.attn.relative_position_bias_table`, [49, i < 2 ? 2 : 4], 'embedding', true]));
  // The table read back: random (the fixture's N(0, 0.3)), every row distinct.
  const table = ck.tensors.get('features.1.0.attn.relative_position_bias_table') ?? assert.fail('no table');
  assert.equal(new Set(table.data).size, table.data.length);
  // PatchMerging: its padding of the channels-last 7×7 to 8×8, strided slices, four joined on the channels.
  const merging = spec.nodes.filter((n) => n.name.startsWith('features.2') || n.name.startsWith('/features/features.2/'));
  assert.deepEqual(merging.filter((n) => n.kind === 'pad').map((n) => (n.kind === 'pad' ? [n.begin, n.end, n.channelsLast] : [])), [[[0, 0], [1, 1], true]]);
  // x[..., 0::2, :, :] and x[..., 1::2, :, :] once each, then each of those at 0::2 and 1::2 on the width.
  assert.equal(merging.filter((n) => n.kind === 'slice' && n.step === 2).length, 6);
  assert.deepEqual(merging.filter((n) => n.kind === 'concat').map((n) => shapes.get(n.name)), [[4, 4, 64]]);
});

test('torchvision\'s relative position index and shift mask as cbp computes them', () => {
  // A 2×2 window: offsets (dy, dx) from −1 to 1, row (dy + 1)·3 + dx + 1; token 0 against 3 is (−1, −1).
  assert.deepEqual([...relativeIndex([2, 2])], [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
  // A 4×4 image, window 2, shift 1: the last window holds four regions, the first one.
  const mask = shiftMask([4, 4], [2, 2], [1, 1]);
  assert.deepEqual([...mask.slice(0, 16)], new Array<number>(16).fill(0));
  assert.deepEqual([...mask.slice(48, 52)], [0, -100, -100, -100]);
});

test('an import of swin_torchvision.onnx trains one ternary epoch on an image folder on the ONNX Runtime engine; the relative position tables learn; its export verifies and evaluates to the training\'s top-1; the TensorFlow.js engine refuses it, naming the windows', () => {
  const data = imageFolder(path.join(tmp, 'folder'));
  // A large learning rate: at the 9 images' 2 steps the tables' gradients are small (the scores of random weights).
  const common = ['--data', data, '--batch-size', '6', '--no-plot', '--lr', '0.5'];
  const out = path.join(tmp, 'swin-ter');
  const r = trainImported({
    imported, out, quant: 'ter', data: common,
    tfjsRefusal: /the TensorFlow\.js engine has no [a-z, ]*windows/,
    learns: BLOCKS.map((b) => `${b}.attn.relative_position_bias_table`),
  });
  exportImported(out, path.join(tmp, 'swin-ter.onnx'), {data: ['--data', data], top1: r.epochs[0].top1});
});

test('a Swin whose attention drops values (attention_dropout > 0, which torchvision 0.14 applies in eval mode too) is refused by its module, saying so; nothing is written', async () => {
  // toObject's plain object of the decoded file: the fields the test edits are ModelProto's (onnx/schema.ts).
  const m = ModelProto.toObject(ModelProto.decode(fs.readFileSync(fixture)), {longs: Number, bytes: Buffer, defaults: false}) as {graph: {node: {name: string; input: string[]; output: string[]; attribute: {t?: {raw_data?: Buffer}}[]}[]}};
  const drop = m.graph.node.find((n) => n.name === '/features/features.1/features.1.0/attn/Dropout') ?? assert.fail('no Dropout');
  const ratio = m.graph.node.find((n) => n.output[0] === drop.input[1])?.attribute[0]?.t ?? assert.fail('no ratio');
  ratio.raw_data = Buffer.from(Float32Array.of(0.1).buffer);
  const file = path.join(tmp, 'swin_dropout.onnx');
  fs.writeFileSync(file, ModelProto.encode(ModelProto.fromObject(m)).finish());
  const out = path.join(tmp, 'swin-dropout');
  await assert.rejects(importOnnx({file, out}), (err: unknown) => {
    assert.ok(err instanceof CbpError && err.code === 'UNSUPPORTED_ONNX');
    assert.match(err.message, /attention in features\.1\.0\.attn: refused .*torchvision's shifted-window attention other than as cbp maps it \(torchvision 0\.14, torch 1\.13's export\): dropout p = 0\.1 \(attention_dropout or dropout\), which torchvision 0\.14 applies in eval mode too; cbp maps p = 0/);
    return true;
  });
  assert.ok(!fs.existsSync(out));
});
