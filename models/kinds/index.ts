import type {KindDef, NodeBase, NodeReader} from './kind';
import {add} from './add';
import {avgpool} from './avgpool';
import {batchnorm} from './batchnorm';
import {groupnorm} from './groupnorm';
import {conv2d} from './conv2d';
import {dense} from './dense';
import {dropout} from './dropout';
import {flatten} from './flatten';
import {globalavgpool} from './globalavgpool';
import {maxpool} from './maxpool';
import {relu} from './relu';
import {clip} from './clip';
import {concat} from './concat';
import {hardsigmoid} from './hardsigmoid';
import {hardswish} from './hardswish';
import {leakyrelu} from './leakyrelu';
import {elu} from './elu';
import {prelu} from './prelu';
import {gelu} from './gelu';
import {layernorm} from './layernorm';
import {mul} from './mul';
import {layerscale} from './layerscale';
import {pad} from './pad';
import {reducemean} from './reducemean';
import {shuffle} from './shuffle';
import {sigmoid} from './sigmoid';
import {silu} from './silu';
import {slice} from './slice';
import {resize} from './resize';
import {reshape} from './reshape';
import {permute} from './permute';
import {matmul} from './matmul';
import {softmax} from './softmax';
import {scale} from './scale';
import {embed} from './embed';
import {clstoken} from './clstoken';
import {mean} from './mean';
import {windows} from './windows';
import {relbias} from './relbias';

export * from './kind';
export type {AddNode} from './add';
export type {AvgPoolNode} from './avgpool';
export type {BatchNormNode} from './batchnorm';
export type {GroupNormNode} from './groupnorm';
export type {Conv2dNode} from './conv2d';
export type {DenseNode} from './dense';
export type {DropoutNode} from './dropout';
export type {FlattenNode} from './flatten';
export type {GlobalAvgPoolNode} from './globalavgpool';
export type {MaxPoolNode} from './maxpool';
export type {ReluNode} from './relu';
export type {ClipNode} from './clip';
export type {ConcatNode} from './concat';
export type {HardSigmoidNode} from './hardsigmoid';
export type {HardSwishNode} from './hardswish';
export type {LeakyReluNode} from './leakyrelu';
export type {EluNode} from './elu';
export type {PReluNode} from './prelu';
export type {GeluNode} from './gelu';
export type {LayerNormNode} from './layernorm';
export type {MulNode} from './mul';
export type {LayerScaleNode} from './layerscale';
export type {PadNode} from './pad';
export type {ReduceMeanNode} from './reducemean';
export type {ShuffleNode} from './shuffle';
export type {SigmoidNode} from './sigmoid';
export type {SiluNode} from './silu';
export type {SliceNode} from './slice';
export type {ResizeNode} from './resize';
export type {ReshapeNode} from './reshape';
export type {PermuteNode} from './permute';
export type {MatMulNode} from './matmul';
export type {SoftmaxNode} from './softmax';
export type {ScaleNode} from './scale';
export type {EmbedNode} from './embed';
export type {ClsTokenNode} from './clstoken';
export type {MeanNode} from './mean';
export type {WindowsNode} from './windows';
export type {RelBiasNode} from './relbias';

/**
 * Every node kind, by the `kind` its nodes carry. Adding a kind: its file (copy relu.ts) and one line here. The order
 * is the ONNX importer's: an op several kinds claim goes to them in this order, and `cbp import` lists the ops it
 * maps in it (layernorm before mul and reducemean: a Mul by its weight, a ReduceMean that starts its pattern are its; silu before
 * sigmoid and mul: a Sigmoid read only by Mul(x, ·), and that Mul, are its).
 */
export const KINDS = {conv2d, batchnorm, groupnorm, relu, maxpool, avgpool, globalavgpool, add, flatten, dense, dropout,
  clip, silu, sigmoid, hardsigmoid, hardswish, leakyrelu, elu, prelu, gelu, layernorm, mul, layerscale, concat, pad, reducemean, shuffle, slice,
  resize, reshape, permute, matmul, softmax, scale, embed, clstoken, mean, windows, relbias} as const;

type NodeOf<D> = D extends KindDef<infer N> ? N : never;
/** A node of a spec: the union of every registered kind's node. */
export type SpecNode = NodeOf<(typeof KINDS)[keyof typeof KINDS]>;
export type NodeKind = SpecNode['kind'];

export function isNodeKind(kind: string): kind is NodeKind {
  return Object.prototype.hasOwnProperty.call(KINDS, kind);
}

/** A node of `kind` from a stored spec's fields. */
export function readNode(kind: NodeKind, r: NodeReader): SpecNode {
  return KINDS[kind].read(r);
}

/** The definition of a node's kind. */
export function kindOf(node: SpecNode): KindDef<SpecNode> {
  return KINDS[node.kind];
}

// Every entry is registered under its own kind: a kind filed under another key makes this line fail to compile.
type Keyed = {[K in keyof typeof KINDS]: (typeof KINDS)[K]['kind'] extends K ? K : never}[keyof typeof KINDS];
export const KINDS_KEYED: keyof typeof KINDS extends Keyed ? true : never = true;

export type {NodeBase};
