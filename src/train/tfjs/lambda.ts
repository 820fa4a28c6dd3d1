import {tf} from '../../core/tf';
import {constraintValue} from './constraint';
import {ADAM} from '../../cbp/ascent';

/** Adam state of one layer's multipliers, kept so a resumed run continues the same ascent. */
export interface LambdaState {
  lambda: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
}

export {ADAM} from '../../cbp/ascent';

/**
 * One Adam step of gradient ascent on Σ λ⊙c(w) with respect to λ (the gradient is c(w) itself), as PyTorch's
 * Adam does it on the negated objective. `step` is the 1-based count of ascent steps taken, including this one.
 */
export function ascendLambda(state: LambdaState, w: tf.Tensor, scale: number, levels: readonly number[], ucs: number, lr: number, step: number): void {
  tf.tidy(() => {
    const grad = tf.neg(constraintValue(w, scale, levels, ucs));
    const m = tf.add(tf.mul(state.m, ADAM.beta1), tf.mul(grad, 1 - ADAM.beta1));
    const v = tf.add(tf.mul(state.v, ADAM.beta2), tf.mul(tf.square(grad), 1 - ADAM.beta2));
    const bc1 = 1 - ADAM.beta1 ** step;
    const bc2 = 1 - ADAM.beta2 ** step;
    const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), ADAM.eps);
    state.lambda.assign(tf.sub(state.lambda, tf.mul(tf.div(m, denom), lr / bc1)));
    state.m.assign(m);
    state.v.assign(v);
  });
}
