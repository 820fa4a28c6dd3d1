import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {INPUT, kindOf, type SpecNode} from '../../models/spec';
import {padBand, type ConvolutionOps, type InferenceGraph, type TrainingGraph} from '../../models/kinds/index';
import {GraphBuilder, valueInfo} from '../../onnx/graph-builder';
import {DataType} from '../../onnx/schema';
import {TRAIN_OPSET} from '../../src/train/ort/train-graph';
import {createOrtEngine} from '../../src/train/ort/engine';
import {initialWeights} from '../../src/train/init';
import {Rng} from '../../src/core/rng';
import {decodeOnnx} from '../../onnx/reader';
import {importGraph} from '../../onnx/import/graph';
import {shapeOnlySource} from '../engine-helpers';
import {FIXTURES} from '../helpers';
import {assertClose} from '../unit/cbp/torch-fixture';

/**
 * Each newer node kind's training-graph forward and backward (models/kinds/*.ts `train`) and its inference ONNX
 * (`onnx`) against PyTorch's forward and autograd (test/fixtures/scripts/make_kind_grads.py): the kinds' own
 * nodes, fed the fixture's inputs, learned parameters (PReLU's slope, LayerNorm's weight and bias, a dense layer's
 * weight and bias on tokens, an embedding) and a random upstream gradient, run in ONNX
 * Runtime; the input and parameter gradients and the outputs must match within 1e-5 of the largest value.
 */

interface TensorCase {
  readonly name: string;
  readonly shape: number[];
  readonly data: number[];
}
interface KindCase {
  readonly name: string;
  readonly nodes: SpecNode[];
  readonly inputs: TensorCase[];
  /** Learned parameters, by state_dict key (fed to the graphs as inputs). */
  readonly params?: TensorCase[];
  readonly outputs: (TensorCase & {readonly y: number[]; readonly gy: number[]})[];
  readonly grads: Record<string, number[]>;
}

const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'kind_grads.json'), 'utf8')) as {torch: string; cases: KindCase[]};

/** Per-sample shapes of the case's values, from the kinds' own shape functions (each node checked first). */
function shapesOf(c: KindCase): Map<string, readonly number[]> {
  const shapes = new Map<string, readonly number[]>(c.inputs.map((i) => [i.name, i.shape.slice(1)]));
  for (const node of c.nodes) {
    const kind = kindOf(node);
    const ins = kind.inputs(node).map((v) => shapes.get(v) ?? assert.fail(`${c.name}: no value ${v}`));
    assert.equal(kind.check(node, ins), undefined, `${c.name}: ${node.name}`);
    shapes.set(node.name, kind.shape(node, ins));
  }
  return shapes;
}

const noConv: ConvolutionOps = {
  forward: () => assert.fail('no convolution here'),
  inputGrad: () => assert.fail('no convolution here'),
  filterGrad: () => assert.fail('no convolution here'),
};

/** The case's nodes as the training graph writes them, the outputs' gradients fed as `gy.<output>`. */
function trainingModel(c: KindCase): Uint8Array {
  const b = new GraphBuilder();
  const shapes = shapesOf(c);
  const grads = new Map<string, string[]>();
  const tape: (() => void)[] = [];
  const gradOf = (v: string): string | undefined => {
    const list = grads.get(v);
    return list === undefined ? undefined : list.length === 1 ? list[0] : b.op('Sum', list);
  };
  const g: TrainingGraph = {
    ops: b,
    conv: noConv,
    value: (name) => name,
    shape: (name) => shapes.get(name) ?? [],
    param: (key) => (c.params ?? []).find((p) => p.name === key)?.name ?? assert.fail(`${c.name}: no parameter ${key}`),
    needsGrad: (name) => name !== INPUT,
    backward: (fn) => tape.push(fn),
    gradOf,
    accumulate: (v, grad) => grads.set(v, [...(grads.get(v) ?? []), grad]),
    // Each band padded to the whole value: the plain form the training graph joins by a Concat where bands tile.
    accumulateBand: (v, grad, band) => grads.set(v, [...(grads.get(v) ?? []), padBand(b, grad, band)]),
    dropoutMask: () => assert.fail('no dropout here'),
    batchStats: () => assert.fail('no batch norm here'),
  };
  for (const node of c.nodes) kindOf(node).train(node, g);
  for (const o of c.outputs) g.accumulate(o.name, `gy.${o.name}`);
  for (let i = tape.length - 1; i >= 0; i--) tape[i]();
  const fed = [...c.inputs, ...(c.params ?? [])];
  for (const i of fed) b.op('Identity', [gradOf(i.name) ?? assert.fail(`${c.name}: no gradient reaches ${i.name}`)], {}, `grad.${i.name}`);
  const inputs = [...fed.map((i) => valueInfo(i.name, DataType.FLOAT, i.shape)), ...c.outputs.map((o) => valueInfo(`gy.${o.name}`, DataType.FLOAT, o.shape))];
  const outputs = [...c.outputs.map((o) => valueInfo(o.name, DataType.FLOAT, o.shape)), ...fed.map((i) => valueInfo(`grad.${i.name}`, DataType.FLOAT, i.shape))];
  return b.model(`${c.name}_train`, inputs, outputs, TRAIN_OPSET, 8);
}

/** The case's nodes as the ONNX writer writes them for inference, at the plain export's opset 13. */
function inferenceModel(c: KindCase): Uint8Array {
  const b = new GraphBuilder();
  const shapes = shapesOf(c);
  const g: InferenceGraph = {
    ops: b,
    opset: 13,
    value: (name) => name,
    shape: (name) => shapes.get(name) ?? [],
    emit: (node, type, inputs, attrs) => void b.op(type, inputs, attrs, node.name),
    // A weight as a float32 parameter (the cases' dense layers are not constrained), its product the kind's own.
    weight: (node) => (c.params ?? []).find((p) => p.name === `${node.name}.weight`)?.name ?? assert.fail(`${c.name}: no weight of ${node.name}`),
    param: (key) => (c.params ?? []).find((p) => p.name === key)?.name ?? assert.fail(`${c.name}: no parameter ${key}`),
    packedDense: () => false,
  };
  for (const node of c.nodes) kindOf(node).onnx(node, g);
  return b.model(`${c.name}_inference`, [...c.inputs, ...(c.params ?? [])].map((i) => valueInfo(i.name, DataType.FLOAT, i.shape)), c.outputs.map((o) => valueInfo(o.name, DataType.FLOAT, o.shape)), 13, 7);
}

async function run(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(model, {logSeverityLevel: 3});
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const data = (r: ort.InferenceSession.ReturnType, name: string): Float32Array => {
  const t = r[name] ?? assert.fail(`no output ${name}`);
  assert.ok(t.data instanceof Float32Array, name);
  return t.data;
};

test(`the fixture covers every newer kind (PyTorch ${fixture.torch})`, () => {
  const kinds = new Set(fixture.cases.flatMap((c) => c.nodes.map((n) => n.kind)));
  for (const k of ['clip', 'sigmoid', 'silu', 'hardsigmoid', 'hardswish', 'leakyrelu', 'elu', 'prelu', 'gelu', 'mul', 'concat', 'maxpool', 'avgpool', 'pad', 'reducemean', 'shuffle', 'slice', 'groupnorm', 'resize', 'layernorm', 'dense', 'reshape', 'permute', 'matmul', 'softmax', 'scale', 'embed', 'clstoken', 'mean', 'windows', 'relbias']) assert.ok(kinds.has(k as SpecNode['kind']), k);
});

for (const c of fixture.cases) {
  test(`${c.name}: forward and input gradients equal PyTorch's (training graph), and the inference ONNX its forward`, async () => {
    const tensor = (t: TensorCase, values: number[] = t.data): ort.Tensor => new ort.Tensor('float32', Float32Array.from(values), t.shape);
    const fed = [...c.inputs, ...(c.params ?? [])];
    const feeds: Record<string, ort.Tensor> = Object.fromEntries(fed.map((i) => [i.name, tensor(i)]));
    const trained = await run(trainingModel(c), {...feeds, ...Object.fromEntries(c.outputs.map((o) => [`gy.${o.name}`, tensor(o, o.gy)]))});
    for (const o of c.outputs) assertClose(data(trained, o.name), o.y, `${c.name}: output ${o.name}`);
    for (const i of fed) assertClose(data(trained, `grad.${i.name}`), c.grads[i.name], `${c.name}: gradient of ${i.name}`);
    const inferred = await run(inferenceModel(c), feeds);
    for (const o of c.outputs) assertClose(data(inferred, o.name), o.y, `${c.name}: inference output ${o.name}`);
  });
}

// The kinds inside whole training graphs (src/train/ort/train-graph.ts): each imported fixture of
// test/fixtures/scripts/make_onnx_fixtures.py takes binary CBP steps on the ONNX Runtime engine, its loss falling
// on a batch it sees again.
for (const name of ['mobile_se', 'mobile_se14', 'fire_concat', 'shuffle_chunk', 'activations', 'norms', 'layernorm', 'layernorm17', 'layernorm2d']) {
  test(`${name}.onnx imported trains on the ONNX Runtime engine (binary CBP): finite gradients, the loss falls`, async () => {
    const file = path.join(FIXTURES, 'onnx', `${name}.onnx`);
    const {spec} = importGraph(decodeOnnx(fs.readFileSync(file), file), file, {name});
    const rng = new Rng(3);
    const n = 8;
    const size = spec.inputShape.reduce((a, b) => a * b, 1);
    const batch = {x: Float32Array.from({length: n * size}, () => rng.normal()), y: Int32Array.from({length: n}, (_, i) => i % spec.numClasses), count: n};
    const e = await createOrtEngine({spec, quant: 'bin', weights: initialWeights(spec, 'bin', 4), weightDecay: 0, lrLambda: 1e-3, constraintTerm: false, source: shapeOnlySource(spec.inputShape, spec.numClasses), device: 'cpu'});
    try {
      const losses: number[] = [];
      for (let i = 0; i < 8; i++) losses.push((await e.step(batch, 0, 0.05)).loss);
      assert.ok(losses.every(Number.isFinite), losses.join(', '));
      assert.ok(losses[losses.length - 1] < losses[0], `losses ${losses.join(', ')}`);
      for (const [key, t] of e.state()) assert.ok(t.data.every(Number.isFinite), key);
    } finally {
      await e.close();
    }
  });
}
