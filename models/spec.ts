/** The one description of a network that training, ONNX export and the PyTorch importer all read. */

import type {QuantOrNone} from '../src/cbp/registry';
import {CbpError} from '../src/core/errors';
import {INPUT, kindOf, type Conv2dNode, type DenseNode, type ParamRole, type SpecNode} from './kinds/index';

// The constraints live in one registry (src/cbp/registry.ts); re-exported here for the spec's readers.
export {QUANTS, QUANT_OR_NONE, SEED_QUANTS, type Quant, type QuantOrNone} from '../src/cbp/registry';

export {INPUT, KINDS, isNodeKind, kindOf, readNode, type NodeReader, type Pair, type ParamRole, type SpecNode, type NodeKind} from './kinds/index';
export type {AddNode, AvgPoolNode, BatchNormNode, Conv2dNode, DenseNode, FlattenNode, GlobalAvgPoolNode, MaxPoolNode, ReluNode} from './kinds/index';

export type WeightNode = Conv2dNode | DenseNode;

export interface ModelSpec {
  readonly name: string;
  /** Channels, height, width of one input image (NCHW without N). */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** In execution order; every input names an earlier node or `input`. */
  readonly nodes: readonly SpecNode[];
  readonly output: string;
}

export function isWeightNode(node: SpecNode): node is WeightNode {
  return node.kind === 'conv2d' || node.kind === 'dense';
}

export function weightShape(node: WeightNode): readonly number[] {
  const weight = kindOf(node).params(node).find((p) => p.role === 'weight');
  if (weight === undefined) throw new Error(`internal: layer ${node.name} has no weight`);
  return weight.shape;
}

/**
 * What the TensorFlow.js engine lacks to run a spec (in training, or only its inference forward pass): one entry
 * per layer, `what` naming the kind or its feature. Empty when it runs it all.
 */
export function tfjsGaps(spec: ModelSpec, training: boolean): {layer: string; what: string}[] {
  const gaps: {layer: string; what: string}[] = [];
  for (const n of spec.nodes) {
    const k = kindOf(n);
    const what = k.tfjs === undefined ? n.kind : k.tfjsLacks?.(n, training);
    if (what !== undefined) gaps.push({layer: n.name, what});
  }
  return gaps;
}

/** Why the TensorFlow.js engine cannot run a spec (naming the kinds and layers), or undefined when it can. */
export function tfjsRefusal(spec: ModelSpec, training: boolean): string | undefined {
  const gaps = tfjsGaps(spec, training);
  if (gaps.length === 0) return undefined;
  return `model ${spec.name} needs the ONNX Runtime engine (--engine onnxruntime): the TensorFlow.js engine has no ` +
    `${[...new Set(gaps.map((g) => g.what))].join(', ')} (layers ${gaps.map((g) => g.layer).join(', ')})`;
}

export interface ParamInfo {
  readonly key: string;
  readonly node: string;
  readonly role: ParamRole;
  readonly shape: readonly number[];
  /** Updated by the optimizer (running statistics and scales are not). */
  readonly trainable: boolean;
}

/** Every tensor of the model, named as PyTorch's state_dict names it (CBP's `scale` included for constrained layers). */
export function paramInfos(spec: ModelSpec, quant: QuantOrNone): ParamInfo[] {
  const out: ParamInfo[] = [];
  for (const node of spec.nodes) {
    const kind = kindOf(node);
    for (const p of kind.params(node)) out.push({key: `${node.name}.${p.suffix}`, node: node.name, role: p.role, shape: p.shape, trainable: p.trainable});
    if (kind.weight?.(node).constrained && quant !== 'none') {
      out.push({key: `${node.name}.scale`, node: node.name, role: 'scale', shape: [1], trainable: false});
    }
  }
  return out;
}

/** Per-sample shape of every value of the spec: [C, H, W] after convolutional layers, [F] after flatten/dense. */
export function valueShapes(spec: ModelSpec): Map<string, readonly number[]> {
  const shapes = new Map<string, readonly number[]>([[INPUT, spec.inputShape]]);
  for (const node of spec.nodes) {
    const kind = kindOf(node);
    const inputs = kind.inputs(node).map((name) => {
      const s = shapes.get(name);
      if (s === undefined) throw new CbpError(`model ${spec.name}: '${name}' is used before it is defined`);
      return s;
    });
    shapes.set(node.name, kind.shape(node, inputs));
  }
  return shapes;
}

export function constrainedNodes(spec: ModelSpec, quant: QuantOrNone): WeightNode[] {
  if (quant === 'none') return [];
  return spec.nodes.filter((n): n is WeightNode => isWeightNode(n) && n.constrained);
}
