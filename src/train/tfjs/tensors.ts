import {tf} from './tf';

// Runtime-checked views of tfjs tensors, for the places tfjs's declarations type more loosely than the engine knows
// (a Map of tensors, a gradient function's arguments, dataSync's typed-array union). A failed check is a bug in cbp.

const RANK_SIZE = {R0: 0, R1: 1, R2: 2, R3: 3, R4: 4, R5: 5, R6: 6} as const satisfies Record<tf.Rank, number>;

function hasRank<R extends tf.Rank>(t: tf.Tensor, rank: R): t is tf.Tensor<R> {
  return t.rank === RANK_SIZE[rank];
}

function ofRank<R extends tf.Rank>(t: tf.Tensor, rank: R): tf.Tensor<R> {
  if (!hasRank(t, rank)) throw new Error(`internal: a tensor of shape [${t.shape.join(', ')}] where one of rank ${RANK_SIZE[rank]} was expected`);
  return t;
}

/** `t` with the rank its type claims, checked. */
export const rank1 = (t: tf.Tensor): tf.Tensor1D => ofRank(t, tf.Rank.R1);
export const rank2 = (t: tf.Tensor): tf.Tensor2D => ofRank(t, tf.Rank.R2);
export const rank4 = (t: tf.Tensor): tf.Tensor4D => ofRank(t, tf.Rank.R4);

/** A tensor's values as a Float32Array: the engine makes only float32 tensors, so another dtype is a bug. */
export function float32Values(t: tf.Tensor): Float32Array {
  const values = t.dataSync();
  if (!(values instanceof Float32Array)) throw new Error(`internal: a ${t.dtype} tensor where float32 values were expected`);
  return values;
}
