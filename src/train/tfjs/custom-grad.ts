import {tf} from './tf';

// tfjs calls a custom gradient outside any tidy scope and keeps its temporaries until the whole backward pass
// ends; each gradient below runs in its own tidy so only its results outlive it.

type GradInput = tf.Tensor | tf.GradSaveFunc;

function first(dy: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(dy) ? dy[0] : dy;
}

/** What tf.customGrad passes its function: the op's `count` tensors, then the function that saves tensors for the gradient. */
export function gradInputs(inputs: readonly GradInput[], count: number): {tensors: tf.Tensor[]; save: tf.GradSaveFunc} {
  const save = inputs[count];
  const tensors = inputs.slice(0, count).filter((t): t is tf.Tensor => t instanceof tf.Tensor);
  if (inputs.length !== count + 1 || tensors.length !== count || typeof save !== 'function') {
    throw new Error(`internal: a custom gradient expected ${count} tensors and a save function, got ${inputs.length} inputs`);
  }
  return {tensors, save};
}

/** A one-input op with a hand-written gradient: `grad(x, dy)` returns dL/dx. */
export function withGradient1(value: (x: tf.Tensor) => tf.Tensor, grad: (x: tf.Tensor, dy: tf.Tensor) => tf.Tensor): (x: tf.Tensor) => tf.Tensor {
  const f = tf.customGrad((...inputs: GradInput[]) => {
    const {tensors: [x], save} = gradInputs(inputs, 1);
    save([x]);
    return {value: value(x), gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.tidy(() => grad(saved[0], first(dy)))};
  });
  return (x) => f(x);
}

/**
 * A two-input op with a hand-written gradient: `grad(a, b, dy)` returns [dL/da, dL/db]. `typed` checks the rank
 * that T claims (tfjs hands the gradient plain tensors).
 */
export function withGradient2<T extends tf.Tensor>(
  typed: (t: tf.Tensor) => T,
  value: (a: T, b: T) => T,
  grad: (a: T, b: T, dy: T) => [tf.Tensor, tf.Tensor],
): (a: T, b: T) => T {
  const f = tf.customGrad((...inputs: GradInput[]) => {
    const {tensors: [a, b], save} = gradInputs(inputs, 2);
    save([a, b]);
    return {
      value: value(typed(a), typed(b)),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.tidy(() => grad(typed(saved[0]), typed(saved[1]), typed(first(dy)))),
    };
  });
  return (a, b) => f(a, b);
}
