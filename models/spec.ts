/** The one description of a network that training, ONNX export and the PyTorch importer all read. */

import type {QuantOrNone} from '../src/cbp/registry';

// The constraints live in one registry (src/cbp/registry.ts); re-exported here for the spec's readers.
export {QUANTS, QUANT_OR_NONE, SEED_QUANTS, type Quant, type QuantOrNone} from '../src/cbp/registry';

export type Pair = readonly [number, number];

interface NodeBase {
  /** PyTorch state_dict prefix of the layer (`features.4`, `layer1.0.conv1`), unique within the spec. */
  readonly name: string;
}

export interface Conv2dNode extends NodeBase {
  readonly kind: 'conv2d';
  readonly input: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly bias: boolean;
  /** Whether CBP constrains this layer's weights (first conv and last dense stay full precision). */
  readonly constrained: boolean;
}

export interface DenseNode extends NodeBase {
  readonly kind: 'dense';
  readonly input: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
  readonly constrained: boolean;
}

export interface BatchNormNode extends NodeBase {
  readonly kind: 'batchnorm';
  readonly input: string;
  readonly channels: number;
  readonly eps: number;
  readonly momentum: number;
}

export interface ReluNode extends NodeBase {
  readonly kind: 'relu';
  readonly input: string;
}

export interface PoolNode extends NodeBase {
  readonly kind: 'maxpool' | 'avgpool';
  readonly input: string;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
}

export interface GlobalAvgPoolNode extends NodeBase {
  readonly kind: 'globalavgpool';
  readonly input: string;
}

export interface AddNode extends NodeBase {
  readonly kind: 'add';
  readonly inputs: readonly [string, string];
}

export interface FlattenNode extends NodeBase {
  readonly kind: 'flatten';
  readonly input: string;
}

export type SpecNode =
  | Conv2dNode
  | DenseNode
  | BatchNormNode
  | ReluNode
  | PoolNode
  | GlobalAvgPoolNode
  | AddNode
  | FlattenNode;

export type NodeKind = SpecNode['kind'];
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

export const INPUT = 'input';

export function isWeightNode(node: SpecNode): node is WeightNode {
  return node.kind === 'conv2d' || node.kind === 'dense';
}

export function weightShape(node: WeightNode): readonly number[] {
  return node.kind === 'conv2d'
    ? [node.outChannels, node.inChannels, node.kernel[0], node.kernel[1]]
    : [node.outFeatures, node.inFeatures];
}

export type ParamRole = 'weight' | 'bias' | 'bn_weight' | 'bn_bias' | 'running_mean' | 'running_var' | 'scale';

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
    if (isWeightNode(node)) {
      out.push({key: `${node.name}.weight`, node: node.name, role: 'weight', shape: weightShape(node), trainable: true});
      const width = node.kind === 'conv2d' ? node.outChannels : node.outFeatures;
      if (node.bias) out.push({key: `${node.name}.bias`, node: node.name, role: 'bias', shape: [width], trainable: true});
      if (node.constrained && quant !== 'none') {
        out.push({key: `${node.name}.scale`, node: node.name, role: 'scale', shape: [1], trainable: false});
      }
    } else if (node.kind === 'batchnorm') {
      const c = [node.channels];
      out.push({key: `${node.name}.weight`, node: node.name, role: 'bn_weight', shape: c, trainable: true});
      out.push({key: `${node.name}.bias`, node: node.name, role: 'bn_bias', shape: c, trainable: true});
      out.push({key: `${node.name}.running_mean`, node: node.name, role: 'running_mean', shape: c, trainable: false});
      out.push({key: `${node.name}.running_var`, node: node.name, role: 'running_var', shape: c, trainable: false});
    }
  }
  return out;
}

export function constrainedNodes(spec: ModelSpec, quant: QuantOrNone): WeightNode[] {
  if (quant === 'none') return [];
  return spec.nodes.filter((n): n is WeightNode => isWeightNode(n) && n.constrained);
}
