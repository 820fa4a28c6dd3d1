import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {getModel} from '../../models/index';
import {valueShapes, type ModelSpec} from '../../models/spec';
import {GraphBuilder, valueInfo} from '../../onnx/graph-builder';
import {decodeOnnx} from '../../onnx/reader';
import {importGraph} from '../../onnx/import/graph';
import {DataType, type ModelMsg, type NodeMsg} from '../../onnx/schema';
import {TRAIN_OPSET, writeTrainGraph} from '../../src/train/ort/train-graph';
import {FIXTURES, tempDir} from '../helpers';

/**
 * ONNX Runtime runs a node as soon as its inputs exist. A backward computation that reads only the forward pass's
 * activations (a ReLU's mask, 1 − y of a sigmoid) therefore runs during the forward pass and its result is held until
 * the backward pass reaches that layer: at batch 32, a third of the ResNet and MobileNet steps' live memory. The
 * training graph reads forward values in the backward pass through views that depend on the gradient (runTape in
 * src/train/ort/train-graph.ts); these tests look at the graph ONNX Runtime itself optimises and runs (its default
 * CPU options), where a view whose dependency the optimiser can see through would be folded away.
 */

const tmp = tempDir('cbp-train-order-');

async function optimised(bytes: Uint8Array, name: string): Promise<ModelMsg> {
  const file = path.join(tmp, `${name}.onnx`);
  fs.writeFileSync(file, bytes);
  const out = path.join(tmp, `${name}.optimised.onnx`);
  const session = await ort.InferenceSession.create(file, {optimizedModelFilePath: out, logSeverityLevel: 3});
  await session.release();
  return decodeOnnx(fs.readFileSync(out), out);
}

/**
 * Nodes that compute from the activations (`activations`, and nodes computed from them the same way) but are
 * neither needed for the forward outputs (loss, logits, batch statistics) nor dependent on the labels, which every
 * gradient is: work ONNX Runtime may run ahead of the gradient it serves. A Reshape is left out (it aliases its input).
 */
function aheadOfGradients(m: ModelMsg, activations: ReadonlySet<string>): NodeMsg[] {
  const producer = new Map<string, NodeMsg>();
  for (const n of m.graph.node) for (const o of n.output) producer.set(o, n);
  const labelled = new Map<NodeMsg, boolean>();
  const readsLabels = (n: NodeMsg): boolean => {
    let r = labelled.get(n);
    if (r === undefined) {
      labelled.set(n, false);
      r = n.input.some((i) => i === 'labels' || (producer.has(i) && readsLabels(producer.get(i) as NodeMsg)));
      labelled.set(n, r);
    }
    return r;
  };
  const needed = new Set<NodeMsg>();
  const stack = m.graph.output.map((o) => o.name).filter((o) => o === 'loss' || o === 'logits' || o.startsWith('mean.') || o.startsWith('var.'));
  while (stack.length > 0) {
    const n = producer.get(stack.pop() as string);
    if (n !== undefined && !needed.has(n)) {
      needed.add(n);
      stack.push(...n.input);
    }
  }
  const ahead = new Map<NodeMsg, boolean>();
  const isAhead = (n: NodeMsg): boolean => {
    let r = ahead.get(n);
    if (r === undefined) {
      ahead.set(n, false);
      r = !needed.has(n) && !readsLabels(n) && n.input.some((i) => activations.has(i) || (producer.has(i) && isAhead(producer.get(i) as NodeMsg)));
      ahead.set(n, r);
    }
    return r;
  };
  return m.graph.node.filter((n) => n.op_type !== 'Reshape' && isAhead(n));
}

const models: readonly {readonly label: string; readonly spec: () => ModelSpec}[] = [
  {label: 'LeNet-5 (ReLU, max pooling)', spec: () => getModel('lenet5', 10, [1, 28, 28])},
  {label: 'ResNet-20, width 8 (batch norm, ReLU, residual sums)', spec: () => getModel('resnet20', 10, [1, 28, 28], 8)},
  {
    label: 'mobile_se.onnx imported (ReLU6, Hardswish, SiLU, squeeze-and-excitation, leaky ReLU)',
    spec: () => {
      const file = path.join(FIXTURES, 'onnx', 'mobile_se.onnx');
      return importGraph(decodeOnnx(fs.readFileSync(file), file), file, {name: 'mobile_se'}).spec;
    },
  },
];

for (const {label, spec: make} of models) {
  test(`${label}: in ONNX Runtime's optimised training step, no backward computation on activations runs ahead of its gradient`, async () => {
    const spec = make();
    const m = await optimised(writeTrainGraph(spec).bytes, spec.name);
    const activations = new Set([...valueShapes(spec).keys()].filter((v) => m.graph.node.some((n) => n.input.includes(v))));
    // The check sees the activations by their names in the optimised graph: most must still be there.
    assert.ok(activations.size >= valueShapes(spec).size / 2, `${activations.size} of ${valueShapes(spec).size} activations read under their own names`);
    const ahead = aheadOfGradients(m, activations);
    assert.deepEqual(ahead.map((n) => `${n.op_type} ${n.name}`), []);
  });
}

test('the check finds a ReLU mask computed from the forward activation alone, as the backward pass used to', async () => {
  const b = new GraphBuilder();
  const r = b.op('Relu', ['input'], {}, 'r');
  const logits = b.op('Identity', [r], {}, 'logits');
  const [loss, logProb] = b.opN('SoftmaxCrossEntropyLoss', [logits, 'labels'], 2, {reduction: 'mean'});
  b.op('Identity', [loss], {}, 'loss');
  // The loss's gradient as the training graph writes it: softmax − one-hot (only the one-hot reads the labels).
  const gy = b.op('Sub', [b.op('Exp', [logProb]), b.op('OneHot', ['labels', b.i64([10]), b.f32Vector([0, 1])], {axis: -1})]);
  b.op('Mul', [gy, b.op('Cast', [b.op('Greater', [r, b.f32(0)])], {to: DataType.FLOAT})], {}, 'grad.input');
  const bytes = b.model(
    'mask_ahead',
    [valueInfo('input', DataType.FLOAT, [10], 'batch'), valueInfo('labels', DataType.INT64, [], 'batch')],
    [valueInfo('loss', DataType.FLOAT, []), valueInfo('logits', DataType.FLOAT, [10], 'batch'), valueInfo('grad.input', DataType.FLOAT, [10], 'batch')],
    TRAIN_OPSET,
    8,
  );
  const ahead = aheadOfGradients(await optimised(bytes, 'mask_ahead'), new Set(['r']));
  assert.deepEqual(ahead.map((n) => n.op_type).sort(), ['Cast', 'Greater']);
});
