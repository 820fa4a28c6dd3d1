import {tf} from '../core/tf';

// tfjs calls a custom gradient outside any tidy scope and keeps its temporaries until the whole backward pass
// ends; each gradient below runs in its own tidy so only its results outlive it.

type GradInput = tf.Tensor | tf.GradSaveFunc;

function first(dy: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(dy) ? dy[0] : dy;
}

/** A one-input op with a hand-written gradient: `grad(x, dy)` returns dL/dx. */
export function withGradient1(value: (x: tf.Tensor) => tf.Tensor, grad: (x: tf.Tensor, dy: tf.Tensor) => tf.Tensor): (x: tf.Tensor) => tf.Tensor {
  const f = tf.customGrad((...inputs: GradInput[]) => {
    const [x, save] = inputs as [tf.Tensor, tf.GradSaveFunc];
    save([x]);
    return {value: value(x), gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.tidy(() => grad(saved[0], first(dy)))};
  });
  return (x) => f(x);
}

/** A two-input op with a hand-written gradient: `grad(a, b, dy)` returns [dL/da, dL/db]. */
export function withGradient2<T extends tf.Tensor>(
  value: (a: T, b: T) => T,
  grad: (a: T, b: T, dy: T) => [tf.Tensor, tf.Tensor],
): (a: T, b: T) => T {
  const f = tf.customGrad((...inputs: GradInput[]) => {
    const [a, b, save] = inputs as [T, T, tf.GradSaveFunc];
    save([a, b]);
    return {
      value: value(a, b),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.tidy(() => grad(saved[0] as T, saved[1] as T, first(dy) as T)),
    };
  });
  return (a, b) => f(a, b);
}
