import type {Tensor32} from '../core/weights';
import type {LambdaTriple, StateKeys} from '../cbp/state';
import {LAMBDA_M_PREFIX, LAMBDA_PREFIX, LAMBDA_V_PREFIX, MOMENTUM_PREFIX} from '../run/checkpoint';

export type {LambdaTriple};

/** The checkpoint key of a trainable parameter's momentum buffer. */
export const momentumKey = (param: string): string => MOMENTUM_PREFIX + param;

/** The checkpoint keys of a constrained layer's λ and Adam moments. */
export function lambdaKeys(layer: string): LambdaTriple<string> {
  return {lambda: LAMBDA_PREFIX + layer, m: LAMBDA_M_PREFIX + layer, v: LAMBDA_V_PREFIX + layer};
}

/** The keys the CBP state's tensors have in a checkpoint (src/cbp/state.ts). */
export const STATE_KEYS: StateKeys = {momentum: momentumKey, lambda: lambdaKeys};

/**
 * What an engine's state() returns for a checkpoint, keyed in the one place both engines share: the model's
 * tensors, each trainable parameter's momentum and each constrained layer's λ with its Adam moments (PyTorch layout).
 */
export function engineState(
  model: Iterable<readonly [string, Tensor32]>,
  momentum: Iterable<readonly [string, Tensor32]>,
  lambdas: Iterable<readonly [string, LambdaTriple<Tensor32>]>,
): Map<string, Tensor32> {
  const out = new Map<string, Tensor32>(model);
  for (const [param, t] of momentum) out.set(momentumKey(param), t);
  for (const [layer, l] of lambdas) {
    const keys = lambdaKeys(layer);
    out.set(keys.lambda, l.lambda);
    out.set(keys.m, l.m);
    out.set(keys.v, l.v);
  }
  return out;
}
