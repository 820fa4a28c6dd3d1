import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../src/core/errors';
import {importOnnx} from '../../src/app/import-onnx';
import {MAX_REFUSAL_MESSAGE} from '../../onnx/import/refusal';
import {ModelProto} from '../../onnx/schema';
import {FIXTURES, tempDir} from '../helpers';
import {cbp, errorText} from '../cli';
import {floatTensor, intAttr, intsAttr, poolAndClassify, valueInfo, writeModel} from '../onnx-graphs';

/**
 * The refusal of a model cbp cannot import, in PyTorch's words (onnx/import/refusal.ts): the unsupported nodes
 * grouped by the module path in their names, modules alike counted together and named by the layer they look like,
 * the whole message under MAX_REFUSAL_MESSAGE characters whatever the model, every node in `--json`'s details.
 * Models: torchvision's VisionTransformer and SwinTransformer at a small size (test/fixtures/onnx/refusal_*.onnx from
 * make_onnx_fixtures.py), and one written here with hundreds of unsupported nodes.
 */

const tmp = tempDir('cbp-onnx-refusal-');
const fixture = (name: string): string => path.join(FIXTURES, 'onnx', `${name}.onnx`);

interface Listed {
  readonly node: string;
  readonly op: string;
  readonly module: string | null;
  readonly reason?: string;
}
interface JsonRefusal {
  readonly error: {readonly code: string; readonly message: string; readonly exitCode: number; readonly details: {readonly unsupported: Listed[]; readonly notJudged: Listed[]}};
}

/** `cbp import FILE --json`, refused: the error object. */
function refusedJson(file: string, out: string): JsonRefusal['error'] {
  const r = cbp(['import', file, '--out', out, '--json']);
  assert.equal(r.status, 2, r.stderr);
  // The shape --json gives a refusal (commands/base.ts); each field used is asserted on below.
  const {error} = JSON.parse(r.stdout) as JsonRefusal;
  assert.equal(error.code, 'UNSUPPORTED_ONNX');
  assert.ok(!fs.existsSync(out));
  return error;
}

/**
 * refusal_vit.onnx with its first attention's Softmax over another axis than the last: torchvision's ViT imports
 * whole (onnx-mha.test.ts); this one's first nn.MultiheadAttention is no longer the pattern cbp maps, so it is refused.
 */
function oddAttention(): string {
  // toObject's plain object of the decoded file: the fields the test edits are ModelProto's (onnx/schema.ts).
  const m = ModelProto.toObject(ModelProto.decode(fs.readFileSync(fixture('refusal_vit'))), {longs: Number, bytes: Buffer, defaults: false}) as {graph: {node: {name: string; attribute: object[]}[]}};
  const softmax = m.graph.node.find((n) => n.name === '/encoder/layers/encoder_layer_0/self_attention/Softmax') ?? assert.fail('no Softmax');
  softmax.attribute = [{name: 'axis', type: 2, i: 1}];
  const file = path.join(tmp, 'refusal_vit_odd.onnx');
  fs.writeFileSync(file, ModelProto.encode(ModelProto.fromObject(m)).finish());
  return file;
}

test('a small torchvision ViT whose first attention is not the whole nn.MultiheadAttention pattern (a Softmax over another axis) is refused by layer: its nn.MultiheadAttention named, under 2,000 characters, all before it mapped (patches, class token, position embedding, LayerNorm), what reads it only not judged; --json lists every node', () => {
  const odd = oddAttention();
  const error = refusedJson(odd, path.join(tmp, 'vit'));
  const m = error.message;
  assert.ok(m.length < MAX_REFUSAL_MESSAGE, `${m.length} characters`);
  // The token kinds map the patches' Reshape to tokens, the class token's Expand and Concat, the position embedding
  // and the first LayerNorm; the first attention's Transpose of the batch and token axes is where cbp stops.
  assert.match(m, /unsupported: attention in encoder\.layers\.encoder_layer_0\.self_attention: refused nn\.MultiheadAttention other than as cbp maps it \(query = key = value, no mask, eval mode, torch 1\.13's export\) \(1 node: \/encoder\/layers\/encoder_layer_0\/self_attention\/Transpose\); not judged, as they read values of those nodes: /);
  assert.match(m, /\. cbp maps Conv, .*; nothing was written$/);
  // nn.LayerNorm at opset 13 (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add) in ln_1, ln_2 of each layer
  // and the encoder's ln: a pattern cbp maps; those after the attention read its refused values, so not judged and
  // named in no group.
  assert.doesNotMatch(m.slice(0, m.indexOf('not judged')), /LayerNorm|ReduceMean|Pow|Sqrt/);
  const {unsupported, notJudged} = error.details;
  assert.deepEqual(unsupported.map((n) => n.node), ['/encoder/layers/encoder_layer_0/self_attention/Transpose']);
  const inLayerNorm = (n: Listed): boolean => n.module?.endsWith('.ln_1') === true || n.module?.endsWith('.ln_2') === true || n.module === 'encoder.ln';
  assert.equal(notJudged.filter(inLayerNorm).length, 4 * 9);
  assert.ok(!notJudged.some((n) => n.module === 'encoder.layers.encoder_layer_0.ln_1'), 'the first LayerNorm maps');
  assert.ok(notJudged.some((n) => n.node === '/encoder/layers/encoder_layer_0/ln_2/ReduceMean' && n.op === 'ReduceMean' && n.reason === undefined));
  // What reads a refused value is listed apart, with no reason: the attention's MatMuls, the MLP's GELU.
  assert.ok(notJudged.some((n) => n.op === 'MatMul' && n.module === 'encoder.layers.encoder_layer_0.self_attention' && n.reason === undefined));
  assert.ok(notJudged.some((n) => n.op === 'Erf' && n.module === 'encoder.layers.encoder_layer_1.mlp.1'));
  // Without --json, the same one line.
  const r = cbp(['import', odd, '--out', path.join(tmp, 'vit-text')]);
  assert.equal(r.status, 2);
  assert.match(errorText(r.stderr), /refusal_vit_odd\.onnx: cannot import this model; unsupported: attention in encoder\.layers\.encoder_layer_0\.self_attention: refused nn\.MultiheadAttention other than/);
});

/**
 * refusal_swin.onnx (torchvision's SwinTransformer imports whole: onnx-swin.test.ts) whose first attention adds a
 * position bias that is no table gathered by torchvision's relative_position_index (two of its values swapped): that
 * attention is no longer what cbp maps, so it is refused by its module, saying what.
 */
function oddSwin(): string {
  // toObject's plain object of the decoded file: the fields the test edits are ModelProto's (onnx/schema.ts).
  const m = ModelProto.toObject(ModelProto.decode(fs.readFileSync(fixture('refusal_swin'))), {longs: Number, bytes: Buffer, defaults: false}) as {graph: {node: {name: string; input: string[]}[]; initializer: {name: string; raw_data: Buffer}[]}};
  const add = m.graph.node.find((n) => n.name === '/features/features.1/features.1.0/attn/Add_1') ?? assert.fail('no Add_1');
  const bias = m.graph.initializer.find((t) => t.name === add.input[1]) ?? assert.fail('no bias');
  // [1, 1, 4, 4]: tokens 0 and 1 against token 0 (offsets (0, 0) and (0, 1)), now swapped.
  const f = new Float32Array(bias.raw_data.buffer.slice(bias.raw_data.byteOffset, bias.raw_data.byteOffset + bias.raw_data.byteLength));
  [f[0], f[4]] = [f[4], f[0]];
  bias.raw_data = Buffer.from(f.buffer);
  const file = path.join(tmp, 'refusal_swin_odd.onnx');
  fs.writeFileSync(file, ModelProto.encode(ModelProto.fromObject(m)).finish());
  return file;
}

test('a small torchvision Swin Transformer whose first attention\'s position bias is not torchvision\'s (hundreds of nodes) is refused in under 2,000 characters, by layer: that attention named, what it lacks, the rest not judged', () => {
  const error = refusedJson(oddSwin(), path.join(tmp, 'swin'));
  const m = error.message;
  assert.ok(m.length < MAX_REFUSAL_MESSAGE, `${m.length} characters`);
  // (With it, torch's B · num_windows, a product of the symbolic batch that only the windows merged with the batch need.)
  assert.match(m, /unsupported: attention in features\.1\.0\.attn: refused Mul of computed values \(1 node: \/features\/features\.1\/features\.1\.0\/attn\/Mul_1\), torchvision's shifted-window attention other than as cbp maps it \(torchvision 0\.14, torch 1\.13's export\): a \[1, heads, T, T\] bias that is not one table gathered by torchvision's relative_position_index \(1 node: \/features\/features\.1\/features\.1\.0\/attn\/Transpose_1\)/);
  const {unsupported, notJudged} = error.details;
  assert.deepEqual(unsupported.map((n) => n.node), ['/features/features.1/features.1.0/attn/Mul_1', '/features/features.1/features.1.0/attn/Transpose_1']);
  // The stem, its LayerNorm and the first block's norm1 map; what reads the refused attention is not judged.
  assert.ok(!notJudged.some((n) => /^features\.0\./.test(n.module ?? '') || n.module === 'features.1.0.norm1'), 'the stem or norm1 refused');
  assert.ok(notJudged.some((n) => n.module === 'features.1.0.norm2' && n.op === 'Pow'));
  for (const n of [...unsupported, ...notJudged]) assert.ok(n.node !== '' && n.op !== '', JSON.stringify(n));
});

/**
 * A 1×4×4 classifier whose body is `blocks` blocks, each a module with an op of its own kind (Custom<i>), a
 * LayerNormalization and a Softmax (over the batch) beside a MatMul: hundreds of unsupported nodes in hundreds of modules.
 */
function manyBlocks(blocks: number): string {
  const tensor = (n: string, dims: number[]): object => floatTensor(n, dims, new Array<number>(dims.reduce((a, b) => a * b, 1)).fill(0.1));
  const node: object[] = [{name: '/stem/Conv', op_type: 'Conv', input: ['input', 'stem.weight'], output: ['x0'], attribute: [intsAttr('kernel_shape', [1, 1])]}];
  for (let i = 0; i < blocks; i++) {
    const p = `/blocks/blocks.${i}`;
    node.push(
      {name: `${p}/act/Custom`, op_type: `Custom${i}`, input: [`x${i}`], output: [`c${i}`]},
      // Its Mean output read on: refused on its attributes, whatever its input.
      {name: `${p}/norm/LayerNormalization`, op_type: 'LayerNormalization', input: [`c${i}`, 'stem.weight'], output: [`n${i}`, `m${i}`]},
      {name: `${p}/attn/MatMul`, op_type: 'MatMul', input: [`n${i}`, `m${i}`], output: [`s${i}`]},
      // Over the batch axis: refused on its attributes, whatever its input.
      {name: `${p}/attn/Softmax`, op_type: 'Softmax', input: [`s${i}`], output: [`x${i + 1}`], attribute: [intAttr('axis', 0)]},
    );
  }
  node.push(...poolAndClassify(`x${blocks}`));
  const graph = {name: 'blocks', node, initializer: [tensor('stem.weight', [2, 1, 1, 1]), tensor('fc.weight', [3, 2]), tensor('fc.bias', [3])], input: [valueInfo('input', ['N', 1, 4, 4])], output: [valueInfo('logits', ['N', 3])]};
  return writeModel(path.join(tmp, `blocks${blocks}.onnx`), graph);
}

test('hundreds of unsupported nodes in hundreds of modules: modules alike counted together, groups past the budget counted, every node in the error\'s details', async () => {
  const out = path.join(tmp, 'blocks');
  await assert.rejects(importOnnx({file: manyBlocks(300), out}), (err: unknown) => {
    assert.ok(err instanceof CbpError && err.code === 'UNSUPPORTED_ONNX', String(err));
    const m = err.message;
    assert.ok(m.length < MAX_REFUSAL_MESSAGE, `${m.length} characters`);
    // Every block's attention is one group, then its LayerNormalization (whose reason names the layer: no look added) …
    assert.match(m, /unsupported: attention in 300 modules \(blocks\.0\.attn, blocks\.1\.attn, blocks\.2\.attn, … \(300 in all\)\): refused Softmax over the batch axis ×300; /);
    assert.match(m, /; LayerNormalization whose Mean or InvStdDev outputs feed other nodes ×300 in 300 modules \(blocks\.0\.norm, blocks\.1\.norm, blocks\.2\.norm, … \(300 in all\)\); Custom0 \(1 node: \/blocks\/blocks\.0\/act\/Custom\); /);
    // … the 300 different ops, each in its own module, are too many to show: counted, with the whole count.
    assert.match(m, /; and \d+ more groups of unsupported nodes \(900 in all; --json lists every node\); not judged/);
    // What onnx/import/refusal.ts puts in the details; the lengths and entries are asserted on below.
    const details = err.details as {unsupported: Listed[]; notJudged: Listed[]} | undefined;
    assert.equal(details?.unsupported.length, 900);
    assert.equal(details.notJudged.length, 300 + 3);
    assert.deepEqual(details.unsupported.slice(0, 3), [
      {node: '/blocks/blocks.0/act/Custom', op: 'Custom0', module: 'blocks.0.act', reason: 'Custom0'},
      {node: '/blocks/blocks.0/norm/LayerNormalization', op: 'LayerNormalization', module: 'blocks.0.norm', reason: 'LayerNormalization whose Mean or InvStdDev outputs feed other nodes'},
      {node: '/blocks/blocks.0/attn/Softmax', op: 'Softmax', module: 'blocks.0.attn', reason: 'Softmax over the batch axis'},
    ]);
    return true;
  });
  assert.ok(!fs.existsSync(out));
});
