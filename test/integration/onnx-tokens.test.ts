import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {CbpError} from '../../src/core/errors';
import type {ExportResult} from '../../src/app/export';
import {importOnnx} from '../../src/app/import-onnx';
import {ModelProto} from '../../onnx/schema';
import {decodeOnnx} from '../../onnx/reader';
import {readCheckpoint} from '../../src/run/checkpoint';
import {decodeSafetensors, encodeSafetensors} from '../../src/run/safetensors';
import {FIXTURES, tempDir} from '../helpers';
import type {ModelInfo} from '../../src/app/info';
import {loadDataset, makeBatch} from '../../src/data/index';
import {cbp, cbpJson, errorText} from '../cli';
import {trainImported} from '../onnx-runs';

/**
 * Token tensors ([N, T, C], batch first): a vision transformer written by hand without LayerNorm
 * (test/fixtures/scripts/make_onnx_fixtures.py `TinyViT`: patch embedding, class token, position embedding, two
 * blocks of 4-head attention and a GELU MLP, head on the class token) is imported with the file's logits, trained one
 * ternary epoch on MNIST with --init on the ONNX Runtime engine, exported in every --weights variant and verified; what
 * the token kinds do not map (an nn.MultiheadAttention whose weights are read, a Softmax on another axis) is refused
 * by name. Each kind's backward is held to PyTorch's in kind-grads.test.ts, one CBP step of a ViT in onnx-step.test.ts.
 */

const tmp = tempDir('cbp-onnx-tokens-');
const fixture = (name: string): string => path.join(FIXTURES, 'onnx', `${name}.onnx`);
const imported = path.join(tmp, 'vit-import');

const DENSE = ['qkv', 'proj'].map((l) => `attn.${l}`).concat(['fc1', 'fc2']);
const mnist = loadDataset('mnist');

test('vit.onnx imports onto the token kinds with the file\'s logits; every dense layer on tokens is constrained, the patch embedding and the head stay float; the class token and position embedding keep their names and shapes', async () => {
  const r = await importOnnx({file: fixture('vit'), out: imported});
  assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${r.maxDifference} (largest logit ${r.maxLogit})`);
  assert.deepEqual(r.constrained, [0, 1].flatMap((b) => DENSE.map((l) => `blocks.${b}.${l}`)));
  assert.deepEqual(r.fullPrecision, ['patch', 'head']);
  const ck = readCheckpoint(imported);
  const nodes = ck.state.config.spec?.nodes ?? assert.fail('no spec');
  const kinds: Record<string, number> = {};
  for (const n of nodes) kinds[n.kind] = (kinds[n.kind] ?? 0) + 1;
  // Per block: qkv, proj, fc1, fc2; 3 takes of q, k, v, kᵀ, the heads back; 2 products; the scale, the softmax.
  assert.deepEqual(kinds, {conv2d: 1, reshape: 5, permute: 12, clstoken: 1, embed: 1, dense: 9, matmul: 4, scale: 2, softmax: 2, add: 4, gelu: 2});
  assert.deepEqual(['cls.weight', 'pos.weight'].map((k) => ck.tensors.get(k)?.shape), [[1, 1, 32], [1, 17, 32]]);
  // q, k and v: index 0, 1, 2 of axis 1 of [T, 3, heads, d], then [heads, T, d]; the head reads token 0.
  const takes = nodes.flatMap((n) => (n.kind === 'permute' && n.take !== undefined ? [[...n.take, ...n.perm]] : []));
  assert.deepEqual(takes, [[1, 0, 1, 0, 2], [1, 1, 1, 0, 2], [1, 2, 1, 0, 2], [1, 0, 1, 0, 2], [1, 1, 1, 0, 2], [1, 2, 1, 0, 2], [0, 0, 0]]);
});

test('the imported ViT trains one ternary epoch with --init on MNIST (ONNX Runtime); its embeddings learn; every --weights variant exports and verifies, fast with its token-wise dense layers as auto stores them (no MatMulNBits) and the float export\'s logits, as cbp info shows; the export evaluates to the top-1 training printed; tfjs and --activations int8 refuse it by name', async () => {
  const common = ['--data', 'mnist', '--limit', '256', '--test-limit', '200', '--batch-size', '64', '--no-plot'];
  const out = path.join(tmp, 'vit-ter');
  const r = trainImported({
    imported, out, quant: 'ter', data: common,
    tfjsRefusal: /needs the ONNX Runtime engine \(--engine onnxruntime\): the TensorFlow\.js engine has no reshape, permute, clstoken, embed, matmul, scale, softmax, gelu \(layers /,
    learns: ['cls.weight', 'pos.weight', 'blocks.0.attn.qkv.weight', 'head.weight'],
  });
  for (const weights of ['auto', 'int2', 'int8', 'float', 'portable', 'fast']) {
    const file = path.join(tmp, `vit-ter-${weights}.onnx`);
    const e = cbpJson<ExportResult>(['export', '--checkpoint', out, '--weights', weights, '--out', file]);
    assert.ok(e.maxDifference <= 1e-4 * Math.max(1, e.maxLogit), `${weights}: ${e.maxDifference} (largest logit ${e.maxLogit})`);
    const model = decodeOnnx(fs.readFileSync(file), file);
    // fast: the 8 constrained dense layers run on tokens (17 rows a sample), where MatMulNBits is slower than the
    // float product: none is written, they keep auto's INT2 codes (its head, on features, stays float).
    assert.equal(model.graph.node.filter((n) => n.op_type === 'MatMulNBits').length, 0, weights);
    const constrained = e.layers.filter((l) => l.constrained);
    assert.deepEqual(constrained.map((l) => l.layer), [0, 1].flatMap((b) => DENSE.map((l) => `blocks.${b}.${l}`)), weights);
    if (weights === 'fast' || weights === 'auto') assert.deepEqual(new Set(constrained.map((l) => l.storage)), new Set(['int2']), weights);
  }
  // The fast file gives the float export's logits (to 1e-4 of the largest) in a stock session, on MNIST test images.
  const n = 32;
  const {x} = makeBatch(mnist, mnist.test, Array.from({length: n}, (_, i) => i), 'NCHW');
  const logits = async (weights: string): Promise<Float32Array> => {
    const session = await ort.InferenceSession.create(path.join(tmp, `vit-ter-${weights}.onnx`));
    try {
      const y = (await session.run({input: new ort.Tensor('float32', x, [n, 1, 28, 28])})).logits.data;
      assert.ok(y instanceof Float32Array);
      return y;
    } finally {
      await session.release();
    }
  };
  const [yFast, yFloat] = [await logits('fast'), await logits('float')];
  const largest = Math.max(1, ...yFloat.map(Math.abs));
  assert.ok(yFast.every((v, i) => Math.abs(v - yFloat[i]) <= 1e-4 * largest), 'fast logits differ from the float export\'s');
  // cbp info lists every dense layer on tokens with its storage; none as MatMulNBits.
  const info = cbpJson<ModelInfo>(['info', path.join(tmp, 'vit-ter-fast.onnx')]);
  assert.equal(info.card.weights, 'fast');
  assert.deepEqual(info.layers.map((l) => [l.layer, l.constraint, l.storage]), [['patch', 'none', 'float32'], ...[0, 1].flatMap((b) => DENSE.map((l) => [`blocks.${b}.${l}`, 'ter', 'int2'])), ['head', 'none', 'float32']]);
  assert.match(cbp(['info', path.join(tmp, 'vit-ter-fast.onnx')]).stdout, /blocks\.0\.attn\.qkv +ter +[\d.]+ +3072 +2 +int2 /);
  const evaluated = cbpJson<{top1: number; images: number}>(['eval', '--onnx', path.join(tmp, 'vit-ter-auto.onnx'), '--data', 'mnist', '--limit', '200']);
  assert.equal(evaluated.images, 200);
  assert.equal(evaluated.top1, r.epochs[0].top1);
  const int8 = cbp(['export', '--checkpoint', out, '--activations', 'int8', '--out', path.join(tmp, 'vit-a8.onnx')]);
  assert.notEqual(int8.status, 0);
  assert.match(errorText(int8.stderr), /--activations int8: vit has token values \(layers \/Reshape, \/Transpose, cls, pos, … \(\d+\)\); the int8-activation export maps images \[C, H, W\] and features \[F\] only: export it with --activations float/);
  assert.ok(!fs.existsSync(path.join(tmp, 'vit-a8.onnx')));
});

type Msg = {graph: {node: {name: string; op_type: string; input: string[]; attribute?: {name: string; i?: number; type?: number}[]}[]; initializer: Record<string, unknown>[]}};

/** vit.onnx decoded to plain objects, changed by `change` and encoded again. */
function mutated(change: (m: Msg) => void): string {
  const obj = ModelProto.toObject(ModelProto.decode(fs.readFileSync(fixture('vit'))), {longs: Number, bytes: Buffer, defaults: false}) as Msg;
  change(obj);
  const file = path.join(tmp, `vit-${Math.random().toString(36).slice(2)}.onnx`);
  fs.writeFileSync(file, ModelProto.encode(ModelProto.fromObject(obj)).finish());
  return file;
}

const node = (m: Msg, name: string): Msg['graph']['node'][number] => m.graph.node.find((n) => n.name === name) ?? assert.fail(`no node ${name}`);

test('what the token kinds do not map is refused by name, nothing written: nn.MultiheadAttention\'s export with its attention weights read, a Softmax on another axis, a Gather of several indices, a Reshape that merges the batch, an ONNX Flatten on axis 2 (2-d: it merges the batch too)', async () => {
  const cases: [string, string, RegExp][] = [
    [
      'nn.MultiheadAttention whose attention weights are read',
      fixture('mha_weights'),
      /unsupported: attention in attn: refused nn\.MultiheadAttention whose weights are read \(need_weights=True\): cbp maps it with need_weights=False or the weights unused \(1 node: \/attn\/Transpose\), ReduceSum \(1 node: \/attn\/ReduceSum\)/,
    ],
    [
      'a Softmax over the heads',
      mutated((m) => {
        node(m, '/blocks/blocks.0/attn/Softmax').attribute = [{name: 'axis', type: 2, i: 1}];
      }),
      /unsupported: attention in blocks\.0\.attn: refused Softmax over an axis other than the last \(1 node: \/blocks\/blocks\.0\/attn\/Softmax\)/,
    ],
    [
      'a Gather of an index list',
      mutated((m) => {
        node(m, '/Gather_1').input[1] = '/Constant_7_output_0';
      }),
      /Gather other than one index of a per-sample axis \(1 node: \/Gather_1\)/,
    ],
    [
      'a Flatten on axis 2',
      mutated((m) => {
        Object.assign(node(m, '/Reshape'), {op_type: 'Flatten', input: ['/patch/Conv_output_0'], attribute: [{name: 'axis', type: 2, i: 2}]});
      }),
      /Flatten on an axis other than 1 \(1 node: \/Reshape\)/,
    ],
    [
      'a Reshape to [-1, C]',
      mutated((m) => {
        m.graph.initializer.push({name: 'merged', dims: [2], data_type: 7, raw_data: Buffer.from(BigInt64Array.of(-1n, 32n).buffer)});
        node(m, '/blocks/blocks.0/attn/Reshape_1').input[1] = 'merged';
      }),
      /Reshape that does not keep the batch axis first \(1 node: \/blocks\/blocks\.0\/attn\/Reshape_1\)/,
    ],
  ];
  for (const [what, file, re] of cases) {
    const out = path.join(tmp, `refused-${what.replace(/\W/g, '_')}`);
    await assert.rejects(importOnnx({file, out}), (err: unknown) => {
      assert.ok(err instanceof CbpError, `${what}: ${String(err)}`);
      assert.equal(err.code, 'UNSUPPORTED_ONNX', `${what}: ${err.message}`);
      assert.match(err.message, re, what);
      return true;
    });
    assert.ok(!fs.existsSync(out), `${what}: ${out} was written`);
  }
});

type State = {config: {spec: {nodes: Record<string, unknown>[]}}};

/** A copy of the imported run whose stored spec `change` rewrote (in the weights file, which holds the run state). */
function lyingRun(to: string, change: (state: State) => void): string {
  fs.mkdirSync(to, {recursive: true});
  const file = path.join(imported, 'weights.safetensors');
  const {tensors, metadata} = decodeSafetensors(fs.readFileSync(file), file);
  const state = JSON.parse(metadata['cbp.state']) as State;
  change(state);
  fs.writeFileSync(path.join(to, 'weights.safetensors'), encodeSafetensors(tensors, {'cbp.state': JSON.stringify(state)}));
  return to;
}

test('a stored spec whose token layers lie is refused on read, naming the field or the layer', () => {
  const at = (s: State, name: string): Record<string, unknown> => s.config.spec.nodes.find((n) => n.name === name) ?? assert.fail(name);
  const lies: [string, (s: State) => void, string, RegExp][] = [
    ['perm', (s) => Object.assign(at(s, '/Transpose'), {perm: [0, 0]}), 'BAD_CHECKPOINT', /layer \/Transpose \(permute\) permutes \[0, 0\] the 2 axes of a value of shape \[32, 16\]/],
    ['perm type', (s) => Object.assign(at(s, '/Transpose'), {perm: 'swap'}), 'BAD_CHECKPOINT', /config\.spec\.nodes\[2\]\.perm' is "swap", expected a list of 1 to 8 integers in \[0, 7\]/],
    ['shape', (s) => Object.assign(at(s, '/Reshape'), {shape: [16, 33]}), 'BAD_CHECKPOINT', /layer \/Reshape \(reshape\) reads \[32, 4, 4\] \(512 values per sample\) as \[16, 33\] \(528\)/],
    ['take', (s) => Object.assign(at(s, '/Gather_1'), {take: [0, 17]}), 'BAD_CHECKPOINT', /layer \/Gather_1 \(permute\) takes index 17 of axis 0 of a value of shape \[17, 32\]/],
    ['embedding', (s) => Object.assign(at(s, 'pos'), {shape: [16, 32]}), 'BAD_CHECKPOINT', /layer pos \(embed\) adds a tensor of shape \[16, 32\] to a value of shape \[17, 32\]/],
    ['class tokens', (s) => Object.assign(at(s, 'cls'), {shape: [1, 31]}), 'BAD_CHECKPOINT', /layer cls \(clstoken\) puts tokens \[1, 31\] before tokens \[16, 32\]/],
  ];
  for (const [what, change, code, re] of lies) {
    const dir = lyingRun(path.join(tmp, `lying-${what.replace(/\W/g, '_')}`), change);
    assert.throws(() => readCheckpoint(dir), (err: unknown) => err instanceof CbpError && err.code === code && re.test(err.message), what);
  }
});
