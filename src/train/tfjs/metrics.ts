import {cfsOf} from '../../cbp/constraint-arrays';
import {levelCounts} from '../../cbp/levels';
import {float32Values} from './tensors';
import type {Network} from './network';
import type {LevelHistogram} from '../engine';

export interface Accuracy {
  readonly top1: number;
  readonly top5: number;
  readonly images: number;
}

export function constrainedCount(net: Network): number {
  return net.constrained.reduce((s, c) => s + net.variable(c.weightKey).size, 0);
}

/** Constraint-satisfaction measure (src/cbp: mean c(w) at ucs = 1 over every constrained weight; 0 for float models). */
export function cfs(net: Network): number {
  return cfsOf(net.constrained.map((c) => ({weights: float32Values(net.variable(c.weightKey)), scale: c.scale, levels: c.levels})));
}


/** How many weights of each constrained layer sit at each allowed value. */
export function levelHistograms(net: Network): LevelHistogram[] {
  return net.constrained.map((c) => {
    const {counts, offLevel} = levelCounts(float32Values(net.variable(c.weightKey)), c.scale, c.levels);
    return {layer: c.node.name, scale: c.scale, levels: c.levels, counts, offLevel};
  });
}
