import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../src/core/errors';
import {importOnnx} from '../../src/app/import-onnx';
import {ModelProto} from '../../onnx/schema';
import {decodeOnnx} from '../../onnx/reader';
import {readConst} from '../../onnx/import/constants';
import {readCheckpoint} from '../../src/run/checkpoint';
import {FIXTURES, tempDir} from '../helpers';
import {exportImported, imageFolder, trainImported} from '../onnx-runs';

/**
 * torch's nn.MultiheadAttention as torch.onnx.export writes it (batch moved to axis 1 and merged with the heads),
 * recognised whole and rewritten batch-first (onnx/import/attention.ts) onto the token kinds: a patch embedding and
 * one nn.MultiheadAttention(batch_first=True) with and without biases (mha.onnx, mha_nobias.onnx), and torchvision's
 * own VisionTransformer (vit_torchvision.onnx: image 32, patch 4, 2 layers, 4 heads, width 32; make_onnx_fixtures.py)
 * imported with the file's logits, trained one ternary epoch on an image folder on the ONNX Runtime engine, exported,
 * verified and evaluated. The kinds the rewrite maps onto (dense on tokens, reshape, permute with a take, scale,
 * matmul, softmax) have their backward held to PyTorch's in kind-grads.test.ts and one CBP step of a ViT in
 * onnx-step.test.ts; an nn.MultiheadAttention whose weights are read is refused (onnx-tokens.test.ts).
 */

const tmp = tempDir('cbp-onnx-mha-');
const fixture = (name: string): string => path.join(FIXTURES, 'onnx', `${name}.onnx`);
const imported = path.join(tmp, 'vit-import');
const LAYERS = [0, 1].map((l) => `encoder.layers.encoder_layer_${l}`);

/** An initializer of the fixture, by name. */
function initializer(file: string, name: string): Float32Array {
  const t = decodeOnnx(fs.readFileSync(file), file).graph.initializer.find((i) => i.name === name) ?? assert.fail(`no ${name}`);
  const c = readConst(t, file, name);
  assert.equal(c.kind, 'float');
  return c.values instanceof Float32Array ? c.values : assert.fail(`${name} is not float`);
}

for (const [name, bias] of [['mha', true], ['mha_nobias', false]] as const) {
  test(`${name}.onnx (nn.MultiheadAttention${bias ? '' : ', bias=False'}) imports with the file's logits: in_proj and out_proj dense layers on tokens, constrained; q, k, v taken from [T, 3, heads, d]; out_proj's weight in PyTorch's layout`, async () => {
    const out = path.join(tmp, name);
    const r = await importOnnx({file: fixture(name), out});
    assert.ok(r.maxLogit > 0.1, `logits ${r.maxLogit}`);
    assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${r.maxDifference} (largest logit ${r.maxLogit})`);
    assert.deepEqual(r.constrained, ['attn.in_proj', 'attn.out_proj']);
    assert.deepEqual(r.fullPrecision, ['patch', 'head']);
    const ck = readCheckpoint(out);
    const nodes = ck.state.config.spec?.nodes ?? assert.fail('no spec');
    const dense = nodes.filter((n) => n.kind === 'dense').map((n) => (n.kind === 'dense' ? [n.name, n.inFeatures, n.outFeatures, n.bias] : []));
    assert.deepEqual(dense, [['attn.in_proj', 8, 24, bias], ['attn.out_proj', 8, 8, bias], ['head', 8, 10, true]]);
    // q, k, v: index 0, 1, 2 of axis 1 of [T, 3, heads, d], then [heads, T, d].
    const takes = nodes.flatMap((n) => (n.kind === 'permute' && n.take !== undefined ? [[...n.take, ...n.perm]] : []));
    assert.deepEqual(takes, [[1, 0, 1, 0, 2], [1, 1, 1, 0, 2], [1, 2, 1, 0, 2]]);
    assert.deepEqual(nodes.filter((n) => n.kind === 'scale').map((n) => (n.kind === 'scale' ? [n.factor, n.divide] : [])), [[2, true]]);
    assert.deepEqual(ck.tensors.get('attn.in_proj.weight')?.shape, [24, 8]);
    assert.equal(ck.tensors.has('attn.in_proj.bias'), bias);
    assert.equal(ck.tensors.has('attn.out_proj.bias'), bias);
    if (bias) {
      // Gemm's out_proj.weight is [out, in] already: the same values under the same name.
      assert.deepEqual(ck.tensors.get('attn.out_proj.weight')?.data, initializer(fixture(name), 'attn.out_proj.weight'));
      assert.deepEqual(ck.tensors.get('attn.in_proj.bias')?.data, initializer(fixture(name), 'attn.in_proj_bias'));
    }
  });
}

test('vit_torchvision.onnx (torchvision\'s VisionTransformer) imports with the file\'s logits; each encoder layer\'s attention is in_proj and out_proj under its module, constrained with the MLP; conv_proj and the head stay float', async () => {
  const r = await importOnnx({file: fixture('vit_torchvision'), out: imported, quant: 'ter'});
  assert.ok(r.maxLogit > 0.1, `logits ${r.maxLogit}`);
  assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${r.maxDifference} (largest logit ${r.maxLogit})`);
  assert.deepEqual(r.constrained, LAYERS.flatMap((l) => ['self_attention.in_proj', 'self_attention.out_proj', 'mlp.0', 'mlp.3'].map((m) => `${l}.${m}`)));
  assert.deepEqual(r.fullPrecision, ['conv_proj', 'heads.head']);
  const ck = readCheckpoint(imported);
  for (const l of LAYERS) {
    assert.deepEqual(ck.tensors.get(`${l}.self_attention.in_proj.weight`)?.shape, [96, 32]);
    assert.deepEqual(ck.tensors.get(`${l}.self_attention.out_proj.weight`)?.data, initializer(fixture('vit_torchvision'), `${l}.self_attention.out_proj.weight`));
  }
});

test('the imported torchvision ViT trains one ternary epoch on an image folder on the ONNX Runtime engine; in_proj and out_proj learn; its export verifies and evaluates to the training\'s top-1', () => {
  const data = imageFolder(path.join(tmp, 'folder'));
  const common = ['--data', data, '--batch-size', '6', '--no-plot'];
  const out = path.join(tmp, 'vit-ter');
  const r = trainImported({
    imported, out, quant: 'ter', data: common,
    tfjsRefusal: /the TensorFlow\.js engine has no /,
    learns: LAYERS.flatMap((l) => ['in_proj.weight', 'in_proj.bias', 'out_proj.weight'].map((k) => `${l}.self_attention.${k}`)),
  });
  exportImported(out, path.join(tmp, 'vit-ter.onnx'), {data: ['--data', data], top1: r.epochs[0].top1});
});

test('an nn.MultiheadAttention that is not the pattern cbp maps is refused at its first Transpose, saying what: its weights read, scores with a mask added (written here into mha.onnx: an Add of a constant before the Softmax), nothing written', async () => {
  // toObject's plain object of the decoded file: the fields the test edits are ModelProto's (onnx/schema.ts).
  const m = ModelProto.toObject(ModelProto.decode(fs.readFileSync(fixture('mha'))), {longs: Number, bytes: Buffer, defaults: false}) as {
    graph: {node: {name: string; op_type: string; input: string[]; output: string[]}[]; initializer: object[]};
  };
  const softmax = m.graph.node.find((n) => n.name === '/attn/Softmax') ?? assert.fail('no Softmax');
  m.graph.node.splice(m.graph.node.indexOf(softmax), 0, {name: '/attn/Add_mask', op_type: 'Add', input: [softmax.input[0], 'mask'], output: ['masked']});
  softmax.input[0] = 'masked';
  m.graph.initializer.push({name: 'mask', dims: [16], data_type: 1, raw_data: Buffer.from(new Float32Array(16).fill(-1).buffer)});
  const masked = path.join(tmp, 'mha_mask.onnx');
  fs.writeFileSync(masked, ModelProto.encode(ModelProto.fromObject(m)).finish());
  const cases: [string, RegExp][] = [
    [fixture('mha_weights'), /unsupported: attention in attn: refused nn\.MultiheadAttention whose weights are read \(need_weights=True\): cbp maps it with need_weights=False or the weights unused \(1 node: \/attn\/Transpose\)/],
    [masked, /unsupported: attention in attn: refused nn\.MultiheadAttention with a mask \(attn_mask or key_padding_mask\): cbp maps it without \(1 node: \/attn\/Transpose\)/],
  ];
  for (const [file, expected] of cases) {
    const out = path.join(tmp, `refused-${path.basename(file, '.onnx')}`);
    await assert.rejects(importOnnx({file, out}), (e: unknown) => {
      assert.ok(e instanceof CbpError && e.code === 'UNSUPPORTED_ONNX', String(e));
      assert.match(e.message, expected);
      return true;
    });
    assert.ok(!fs.existsSync(out));
  }
});
