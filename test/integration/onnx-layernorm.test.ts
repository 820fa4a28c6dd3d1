import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {CbpError} from '../../src/core/errors';
import {importOnnx} from '../../src/app/import-onnx';
import {decodeOnnx} from '../../onnx/reader';
import {importGraph} from '../../onnx/import/graph';
import {readCheckpoint} from '../../src/run/checkpoint';
import {decodeSafetensors, encodeSafetensors} from '../../src/run/safetensors';
import type {LayerNormNode} from '../../models/kinds/index';
import {FIXTURES, tempDir} from '../helpers';
import {cbpJson} from '../cli';
import {floatTensors, handMadeClassifier, int64Tensor, intAttr, intsAttr, type Floats, type OnnxNodeJson} from '../onnx-graphs';
import {exportImported, trainImported} from '../onnx-runs';
import {WEIGHT_FORMATS, writeOnnx} from '../../onnx/writer';
import {initialWeights} from '../../src/train/init';

/**
 * nn.LayerNorm through `cbp import` (models/kinds/layernorm.ts): torch's opset-13 nodes and opset 17's
 * LayerNormalization (test/fixtures/scripts/make_onnx_fixtures.py) imported with the file's logits, trained one epoch
 * on MNIST with --init, exported and verified; hand-written graphs for what the importer maps besides and for the
 * patterns that are only partly a LayerNorm, each refused naming what is missing.
 */

const tmp = tempDir('cbp-onnx-layernorm-');
const fixture = (name: string): string => path.join(FIXTURES, 'onnx', `${name}.onnx`);

const norms = (file: string): Omit<LayerNormNode, 'kind' | 'input'>[] =>
  importGraph(decodeOnnx(fs.readFileSync(file), file), file, {name: 'ln'}).spec.nodes.flatMap((n) => (n.kind === 'layernorm' ? [{name: n.name, normalized: n.normalized, ...(n.axis !== undefined ? {axis: n.axis} : {}), eps: n.eps, weight: n.weight, bias: n.bias}] : []));

test('LayerNorm over [C, H, W], over [H, W] without affine and over features imports from opset 13\'s nodes and opset 17\'s LayerNormalization with the file\'s logits', async () => {
  for (const name of ['layernorm', 'layernorm17']) {
    const out = path.join(tmp, `${name}-import`);
    const r = await importOnnx({file: fixture(name), out});
    assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${name}: ${r.maxDifference} (largest logit ${r.maxLogit})`);
    const spec = readCheckpoint(out).state.config.spec;
    // The ReduceMean of x.mean([2, 3]) stays a global average (the reducemean kind); those of the norms are theirs.
    assert.deepEqual(spec?.nodes.map((n) => n.kind), ['conv2d', 'layernorm', 'relu', 'conv2d', 'layernorm', 'relu', 'reducemean', 'dense', 'layernorm', 'relu', 'dense'], name);
    assert.deepEqual(r.constrained, ['conv2', 'fc1'], name);
  }
  assert.deepEqual(norms(fixture('layernorm')), [
    {name: 'norm1', normalized: [4, 13, 13], eps: 1e-5, weight: true, bias: true},
    {name: 'norm2', normalized: [6, 6], eps: 1e-3, weight: false, bias: false},
    {name: 'norm3', normalized: [16], eps: 1e-6, weight: true, bias: true},
  ]);
  assert.deepEqual(norms(fixture('layernorm17')).map((n) => [n.name, n.weight && n.bias, n.eps]), [['norm1', true, 1e-5], ['norm2', true, 1e-3], ['norm3', true, 1e-6]]);
  // The weights and biases under PyTorch's state_dict names and shapes (normalized_shape).
  const file = fixture('layernorm');
  const {weights} = importGraph(decodeOnnx(fs.readFileSync(file), file), file, {name: 'ln'});
  assert.deepEqual(['norm1.weight', 'norm1.bias', 'norm2.weight', 'norm3.weight', 'norm3.bias'].map((k) => weights.get(k)?.shape), [[4, 13, 13], [4, 13, 13], undefined, [16], [16]]);
});

test('torchvision\'s LayerNorm2d (ConvNeXt: Transpose to channels-last, the norm over the last axis, Transpose back) imports as one LayerNorm over the channels, with the file\'s logits', async () => {
  const out = path.join(tmp, 'layernorm2d-import');
  const r = await importOnnx({file: fixture('layernorm2d'), out});
  assert.ok(r.maxDifference <= 1e-4 * Math.max(1, r.maxLogit), `${r.maxDifference} (largest logit ${r.maxLogit})`);
  assert.deepEqual(readCheckpoint(out).state.config.spec?.nodes.map((n) => n.kind), ['conv2d', 'layernorm', 'relu', 'layernorm', 'conv2d', 'gelu', 'globalavgpool', 'layernorm', 'flatten', 'dense']);
  assert.deepEqual(norms(fixture('layernorm2d')), [
    {name: 'stem.1', normalized: [8], axis: 0, eps: 1e-6, weight: true, bias: true},
    {name: 'down.0', normalized: [8], axis: 0, eps: 1e-6, weight: true, bias: true},
    {name: 'classifier.0', normalized: [16], axis: 0, eps: 1e-6, weight: true, bias: true},
  ]);
  assert.deepEqual(['stem.1.weight', 'down.0.bias', 'classifier.0.weight'].map((k) => readCheckpoint(out).tensors.get(k)?.shape), [[8], [8], [16]]);
});

for (const [name, norms2] of [['layernorm', ['norm1', 'norm3']], ['layernorm2d', ['stem.1', 'down.0', 'classifier.0']]] as const) {
  test(`an import of ${name}.onnx trains one ternary epoch with --init on MNIST; the weights and biases learn; its export verifies and evaluates to the training's top-1; the TensorFlow.js engine refuses it, naming the kind`, () => {
    const imported = path.join(tmp, `${name}-cli`);
    cbpJson(['import', fixture(name), '--out', imported]);
    const common = ['--data', 'mnist', '--limit', '256', '--test-limit', '200', '--batch-size', '64', '--no-plot'];
    const out = path.join(tmp, `${name}-ter`);
    const r = trainImported({
      imported, out, quant: 'ter', data: common,
      tfjsRefusal: name === 'layernorm' ? /the TensorFlow\.js engine has no layernorm \(layers norm1, norm2, norm3\)/ : /the TensorFlow\.js engine has no layernorm, gelu \(layers stem\.1, down\.0, gelu, classifier\.0\)/,
      learns: norms2.flatMap((n) => [`${n}.weight`, `${n}.bias`]),
    });
    const after = readCheckpoint(out).tensors;
    if (name === 'layernorm') assert.ok(!after.has('norm2.weight') && !after.has('norm2.bias'), 'elementwise_affine=False has no parameters');
    exportImported(out, path.join(tmp, `${name}-ter.onnx`), {data: ['--data', 'mnist', '--limit', '200'], top1: r.epochs[0].top1});
  });
}

/** Each op's count in the graph a default ONNX Runtime session runs (saved by optimizedModelFilePath), and the logits of `input`. */
async function stockRun(bytes: Uint8Array, saveAs: string, input: ort.Tensor): Promise<{ops: Map<string, number>; logits: Float32Array}> {
  const session = await ort.InferenceSession.create(bytes, {optimizedModelFilePath: saveAs, logSeverityLevel: 3});
  try {
    const out = await session.run({[session.inputNames[0]]: input});
    const ops = new Map<string, number>();
    for (const n of decodeOnnx(fs.readFileSync(saveAs), saveAs).graph.node) ops.set(n.op_type, (ops.get(n.op_type) ?? 0) + 1);
    return {ops, logits: out[session.outputNames[0]].data as Float32Array};
  } finally {
    await session.release();
  }
}

const largestGap = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const largest = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

test('an exported layer norm over trailing axes runs as ONNX Runtime\'s one LayerNormalization kernel in a default session, for every --weights variant (the operator from opset 17, torch\'s opset-13 nodes, which ONNX Runtime fuses, before), with the file\'s logits', async () => {
  // torchvision's VisionTransformer fixture: 5 layer norms over the channels of tokens. layernorm and layernorm17:
  // over [C, H, W] (several axes, flattened into one for the fusion), over [H, W] (without affine in layernorm:
  // ones and zeros for the pattern) and over features.
  for (const [name, fused] of [['vit_torchvision', 5], ['layernorm', 3], ['layernorm17', 3]] as const) {
    const file = fixture(name);
    const {spec, weights} = importGraph(decodeOnnx(fs.readFileSync(file), file), file, {name});
    const [c, h, w] = spec.inputShape;
    const input = new ort.Tensor('float32', Float32Array.from({length: 2 * c * h * w}, (_, i) => Math.sin(i * 0.37)), [2, c, h, w]);
    const original = await stockRun(fs.readFileSync(file), path.join(tmp, `${name}.original.onnx`), input);
    const float = await stockRun(writeOnnx(spec, 'none', weights, 'float', {}).bytes, path.join(tmp, `${name}.float.onnx`), input);
    assert.ok(largestGap(float.logits, original.logits) <= 1e-4 * largest(original.logits), `${name}: the float export's logits are ${largestGap(float.logits, original.logits)} from the file's`);
    const ter = initialWeights(spec, 'ter', 3);
    let reference: Float32Array | undefined;
    for (const format of WEIGHT_FORMATS) {
      const written = writeOnnx(spec, 'ter', ter, format, {});
      const r = await stockRun(written.bytes, path.join(tmp, `${name}.ter-${format}.onnx`), input);
      assert.equal(r.ops.get('LayerNormalization') ?? 0, fused, `${name}, --weights ${format} (opset ${written.opset}): ${r.ops.get('LayerNormalization') ?? 0} LayerNormalization kernels, expected ${fused}`);
      assert.deepEqual(['ReduceMean', 'ReduceSum', 'Pow', 'Sqrt'].filter((op) => r.ops.has(op)), [], `${name}, --weights ${format}: a layer norm left as separate nodes`);
      reference ??= r.logits;
      assert.ok(largestGap(r.logits, reference) <= 1e-5 * largest(reference), `${name}, --weights ${format}: logits ${largestGap(r.logits, reference)} from --weights ${WEIGHT_FORMATS[0]}'s`);
    }
  }
});

/** A 1×4×4 classifier written by hand: Conv (2 channels, value `c`), then `body` (writing `a`), pooling, Gemm. */
function handMade(name: string, body: OnnxNodeJson[], floats: Floats, opset = 13): string {
  // ReduceMean's axes as an input (opset 18): the last axis, an int64 initializer.
  return handMadeClassifier(tmp, name, body, [...floatTensors(floats), int64Tensor('last', [-1])], {channels: 2, convBias: true, seed: 11, opset});
}

const scalar = (v: number): {dims: number[]; values: number[]} => ({dims: [], values: [v]});
const CONSTANTS: Floats = {
  two: scalar(2),
  three: scalar(3),
  eps: scalar(1e-5),
  'norm.weight': {dims: [4], values: [0.5, 1.5, 1, 2]},
  'norm.bias': {dims: [4], values: [0.1, -0.2, 0.3, 0]},
  wide: {dims: [2, 1, 1], values: [2, 3]},
  // The same, anonymous (a constant torch folded, not a module's parameter, which would map as a layer scale).
  'onnx::Mul_7': {dims: [2, 1, 1], values: [2, 3]},
  'norm2d.weight': {dims: [2], values: [0.5, 1.5]},
  'norm2d.bias': {dims: [2], values: [0.1, -0.2]},
};

/** torch's LayerNorm(4) nodes on `c` [N, 2, 4, 4] (over its width), each replaceable by name; the last writes `a`. */
function pattern(change: Record<string, Partial<OnnxNodeJson> | null> = {}): OnnxNodeJson[] {
  const nodes: OnnxNodeJson[] = [
    {name: '/norm/ReduceMean', op_type: 'ReduceMean', input: ['c'], output: ['m'], attribute: [intsAttr('axes', [-1])]},
    {name: '/norm/Sub', op_type: 'Sub', input: ['c', 'm'], output: ['d']},
    {name: '/norm/Pow', op_type: 'Pow', input: ['d', 'two'], output: ['q']},
    {name: '/norm/ReduceMean_1', op_type: 'ReduceMean', input: ['q'], output: ['v'], attribute: [intsAttr('axes', [-1])]},
    {name: '/norm/Add', op_type: 'Add', input: ['v', 'eps'], output: ['ve']},
    {name: '/norm/Sqrt', op_type: 'Sqrt', input: ['ve'], output: ['s']},
    {name: '/norm/Div', op_type: 'Div', input: ['d', 's'], output: ['n']},
    {name: '/norm/Mul', op_type: 'Mul', input: ['n', 'norm.weight'], output: ['nw']},
    {name: '/norm/Add_1', op_type: 'Add', input: ['nw', 'norm.bias'], output: ['a']},
  ];
  return nodes.flatMap((n) => {
    const c = change[n.name];
    return c === null ? [] : [{...n, ...c}];
  });
}

/** torchvision's LayerNorm2d(2) on `c` [N, 2, 4, 4]: Transpose `perm`, the pattern over the last axis, Transpose `back` writing `a`. */
function layerNorm2d(back: number[], change: Record<string, Partial<OnnxNodeJson> | null> = {}): OnnxNodeJson[] {
  const inner = pattern({'/norm/Mul': {input: ['n', 'norm2d.weight']}, '/norm/Add_1': {input: ['nw', 'norm2d.bias'], output: ['b']}, ...change})
    .map((n) => ({...n, input: n.input.map((v) => (v === 'c' ? 't' : v))}));
  return [
    {name: '/norm/Transpose', op_type: 'Transpose', input: ['c'], output: ['t'], attribute: [intsAttr('perm', [0, 2, 3, 1])]},
    ...inner,
    {name: '/norm/Transpose_1', op_type: 'Transpose', input: ['b'], output: ['a'], attribute: [intsAttr('perm', back)]},
  ];
}

test('LayerNorm by hand: over the last axis of an image, squared by Mul, without affine, a weight alone, ReduceMean\'s axes as an input (opset 18), LayerNormalization without parameters', async () => {
  const good: [string, OnnxNodeJson[], Partial<LayerNormNode>, number?][] = [
    ['torch_width', pattern(), {normalized: [4], eps: 1e-5, weight: true, bias: true}],
    ['squared_by_mul', pattern({'/norm/Pow': {op_type: 'Mul', input: ['d', 'd']}}), {normalized: [4], weight: true, bias: true}],
    ['plain', pattern({'/norm/Div': {output: ['a']}, '/norm/Mul': null, '/norm/Add_1': null}), {weight: false, bias: false}],
    ['weight_only', pattern({'/norm/Mul': {output: ['a']}, '/norm/Add_1': null}), {weight: true, bias: false}],
    ['opset18', pattern({'/norm/ReduceMean': {input: ['c', 'last'], attribute: []}, '/norm/ReduceMean_1': {input: ['q', 'last'], attribute: []}}), {normalized: [4], weight: true, bias: true}, 18],
    ['layernorm2d', layerNorm2d([0, 3, 1, 2]), {normalized: [2], axis: 0, eps: 1e-5, weight: true, bias: true}],
    ['no_parameters', [{name: '/norm/LayerNormalization', op_type: 'LayerNormalization', input: ['c', 'ones'], output: ['a'], attribute: [intAttr('axis', -2), {name: 'epsilon', type: 1, f: 1e-3}]}], {normalized: [4, 4], eps: 1e-3, weight: false, bias: false}, 17],
  ];
  for (const [name, body, expect, opset] of good) {
    const file = handMade(name, body, {...CONSTANTS, ones: {dims: [4, 4], values: new Array<number>(16).fill(1)}}, opset);
    const out = path.join(tmp, `hand-${name}`);
    const r = await importOnnx({file, out});
    assert.ok(r.maxDifference <= 1e-5 * Math.max(1, r.maxLogit), `${name}: ${r.maxDifference}`);
    const nodes = readCheckpoint(out).state.config.spec?.nodes ?? [];
    assert.deepEqual(nodes.map((n) => n.kind), ['conv2d', 'layernorm', 'globalavgpool', 'flatten', 'dense'], name);
    const ln = nodes[1];
    assert.ok(ln.kind === 'layernorm');
    for (const [k, v] of Object.entries(expect)) assert.deepEqual(ln[k as keyof LayerNormNode], v, `${name}: ${k}`); // keys of a LayerNormNode's fields
  }
});

test('patterns only partly LayerNorm are refused, naming the layer and what LayerNorm has there; LayerNormalization over the batch or with its statistics used too; a LayerNorm2d whose Transposes do not lead back maps as permutations around a LayerNorm', async () => {
  const refused: [string, OnnxNodeJson[], RegExp, number?][] = [
    ['a cube', pattern({'/norm/Pow': {input: ['d', 'three']}}), /unsupported: LayerNorm-like pattern at norm: Pow of x − mean by 3 where LayerNorm squares it \(Pow 2\) \(LayerNorm is ReduceMean → Sub → Pow\(2\) → ReduceMean → Add\(ε\) → Sqrt → Div\) \(1 node: \/norm\/Pow\)/],
    ['no square root', pattern({'/norm/Sqrt': null, '/norm/Div': {input: ['d', 've']}}), /LayerNorm-like pattern at norm: Div of x − mean by a value other than √\(variance \+ ε\) of the same x .*\(1 node: \/norm\/Div\)/],
    ['the variance over other axes', pattern({'/norm/ReduceMean_1': {attribute: [intsAttr('axes', [-2, -1])]}}), /LayerNorm-like pattern at norm: the variance's ReduceMean is over other axes than the mean's .*\(1 node: \/norm\/ReduceMean_1\)/],
    ['the mean minus x', pattern({'/norm/Sub': {input: ['m', 'c']}}), /LayerNorm-like pattern at norm: Sub reads the mean where LayerNorm subtracts it from x \(Sub\(x, mean\)\)/],
    ['a mean over channels', pattern({'/norm/ReduceMean': {attribute: [intsAttr('axes', [1])]}}), /LayerNorm-like pattern at norm: ReduceMean over axes \[1\] of \[N, 2, 4, 4\], not its last axes .*\(1 node: \/norm\/ReduceMean\)/],
    ['no ε', pattern({'/norm/Add': null, '/norm/Sqrt': {input: ['v']}}), /LayerNorm-like pattern at norm: Sqrt reads the variance where LayerNorm adds a constant ε to it \(Add\)/],
    ['a weight per channel', pattern({'/norm/Mul': {input: ['n', 'onnx::Mul_7']}}), /LayerNorm-like pattern at norm: Mul by a constant of dims \[2, 1, 1\] where LayerNorm's weight has the normalised shape \[4\] \(1 node: \/norm\/Mul\)/],
    ['x − mean read elsewhere', [...pattern({'/norm/Add_1': {output: ['b']}}), {name: '/extra/Add', op_type: 'Add', input: ['b', 'd'], output: ['a']}], /LayerNorm-like pattern at extra: Add reads x − mean where LayerNorm squares it \(Pow 2\) and divides it by √\(variance \+ ε\) .*\(1 node: \/extra\/Add\)/],
    ['LayerNorm2d over the width too', layerNorm2d([0, 3, 1, 2], {'/norm/ReduceMean': {attribute: [intsAttr('axes', [-2, -1])]}}), /LayerNorm-like pattern at norm: ReduceMean of x transposed to channels-last over other axes than the channels .*\(1 node: \/norm\/ReduceMean\)/],
    ['LayerNormalization over the batch', [{name: '/norm/LayerNormalization', op_type: 'LayerNormalization', input: ['c', 'all'], output: ['a'], attribute: [intAttr('axis', 0)]}], /unsupported: LayerNormalization over axis 0 \(cbp normalises the axes of each sample, not the batch\)/, 17],
    ['LayerNormalization with a weight per channel', [{name: '/norm/LayerNormalization', op_type: 'LayerNormalization', input: ['c', 'wide'], output: ['a'], attribute: [intAttr('axis', 1)]}], /unsupported: LayerNormalization whose scale or bias is not of the normalised shape \[2, 4, 4\] \(1 node: \/norm\/LayerNormalization\)/, 17],
    ['LayerNormalization with its mean used', [
      {name: '/norm/LayerNormalization', op_type: 'LayerNormalization', input: ['c', 'norm.weight'], output: ['n', 'mean']},
      {name: '/norm/Add', op_type: 'Add', input: ['n', 'mean'], output: ['a']},
    ], /unsupported: LayerNormalization whose Mean or InvStdDev outputs feed other nodes \(1 node: \/norm\/LayerNormalization\); not judged, as they read values of those nodes: Add ×1/, 17],
  ];
  for (const [what, body, re, opset] of refused) {
    const name = what.replace(/\W/g, '_');
    const out = path.join(tmp, `refused-${name}`);
    await assert.rejects(importOnnx({file: handMade(name, body, {...CONSTANTS, all: {dims: [2, 4, 4], values: new Array<number>(32).fill(1)}}, opset), out}), (err: unknown) => {
      assert.ok(err instanceof CbpError && err.code === 'UNSUPPORTED_ONNX', `${what}: ${String(err)}`);
      assert.match(err.message, re, what);
      return true;
    });
    assert.ok(!fs.existsSync(out), what);
  }
  // Not back to channels-first: no LayerNorm2d. Its Transposes keep the batch first, so they map as permutations of
  // their own (the permute kind) around a LayerNorm over the last axis, with the file's logits.
  const out = path.join(tmp, 'transposed-elsewhere');
  const r = await importOnnx({file: handMade('transposed_elsewhere', layerNorm2d([0, 3, 2, 1]), CONSTANTS), out});
  assert.ok(r.maxDifference <= 1e-5 * Math.max(1, r.maxLogit), `${r.maxDifference}`);
  assert.deepEqual(readCheckpoint(out).state.config.spec?.nodes.map((n) => n.kind).slice(1, 4), ['permute', 'layernorm', 'permute']);
});

test('a stored spec whose layer norm lies (another normalised shape, none, not integers, an axis past its input) is refused on read, naming the layer or the field', async () => {
  const run = path.join(tmp, 'layernorm2d-stored');
  await importOnnx({file: fixture('layernorm2d'), out: run});
  const file = path.join(run, 'weights.safetensors');
  const {tensors, metadata} = decodeSafetensors(fs.readFileSync(file), file);
  const lies: [string, (n: Record<string, unknown>) => void, RegExp][] = [
    ['another shape', (n) => void (n.normalized = [9]), /layer stem\.1 \(layernorm\) normalises over \[9\] from axis 0, which its input \[8, 7, 7\] does not have there/],
    ['none', (n) => void (n.normalized = []), /'config\.spec\.nodes\[1\]\.normalized' is "0 values", expected a list of 1 to 8 integers/],
    ['not integers', (n) => void (n.normalized = [1.5]), /'config\.spec\.nodes\[1\]\.normalized\[0\]' is 1\.5, expected an integer/],
    ['an axis past its input', (n) => void (n.axis = 3), /layer stem\.1 \(layernorm\) normalises over \[8\] from axis 3, which its input \[8, 7, 7\] does not have there/],
  ];
  for (const [what, lie, re] of lies) {
    const state = JSON.parse(metadata['cbp.state'] ?? '{}') as {config: {spec: {nodes: Record<string, unknown>[]}}}; // a checkpoint's run state, as cbp wrote it
    lie(state.config.spec.nodes[1]);
    const dir = path.join(tmp, `lie-${what.replace(/\W/g, '_')}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'weights.safetensors'), encodeSafetensors(tensors, {...metadata, 'cbp.state': JSON.stringify(state)}));
    assert.throws(() => readCheckpoint(dir), (err: unknown) => {
      assert.ok(err instanceof CbpError, `${what}: ${String(err)}`);
      assert.match(err.message, re, what);
      return true;
    });
  }
});
