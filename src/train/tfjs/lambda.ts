import {tf} from '../../core/tf';
import {ascendLambdaArrays} from '../../cbp/ascent';
import {float32Values} from './tensors';

/** Adam state of one layer's multipliers, kept so a resumed run continues the same ascent. */
export interface LambdaState {
  lambda: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
}

/**
 * One Adam step of gradient ascent on Σ λ⊙c(w) with respect to λ, by the one implementation both engines run
 * (`ascendLambdaArrays`): the multipliers and the weights are read back, stepped as arrays and written back. The
 * ascent happens once every few epochs, so the copies cost nothing a run notices. c(w) is element-wise, so the
 * engine's own layout of w and λ (NHWC) needs no conversion.
 */
export function ascendLambda(state: LambdaState, w: tf.Tensor, scale: number, levels: readonly number[], ucs: number, lr: number, step: number): void {
  const arrays = {lambda: float32Values(state.lambda).slice(), m: float32Values(state.m).slice(), v: float32Values(state.v).slice()};
  ascendLambdaArrays(arrays, float32Values(w), scale, levels, ucs, lr, step);
  tf.tidy(() => {
    state.lambda.assign(tf.tensor(arrays.lambda, state.lambda.shape));
    state.m.assign(tf.tensor(arrays.m, state.m.shape));
    state.v.assign(tf.tensor(arrays.v, state.v.shape));
  });
}
