import type {LambdaTriple, StateKeys} from '../cbp/state';
import {LAMBDA_M_PREFIX, LAMBDA_PREFIX, LAMBDA_V_PREFIX, MOMENTUM_PREFIX} from '../run/checkpoint';


/** The checkpoint key of a trainable parameter's momentum buffer. */
const momentumKey = (param: string): string => MOMENTUM_PREFIX + param;

/** The checkpoint keys of a constrained layer's λ and Adam moments. */
function lambdaKeys(layer: string): LambdaTriple<string> {
  return {lambda: LAMBDA_PREFIX + layer, m: LAMBDA_M_PREFIX + layer, v: LAMBDA_V_PREFIX + layer};
}

/** The keys the CBP state's tensors have in a checkpoint (src/cbp/state.ts). */
export const STATE_KEYS: StateKeys = {momentum: momentumKey, lambda: lambdaKeys};
