import {CbpError, errorMessage} from '../core/errors';
import {sameShape, type Tensor32} from '../core/weights';
import {constrainedNodes, paramInfos} from '../../models/spec';
import {specOf} from './spec-of';
import {LAMBDA_M_PREFIX, LAMBDA_PREFIX, LAMBDA_V_PREFIX, MOMENTUM_PREFIX, type RunConfig} from './format';
import {quoted} from '../core/shown';

/**
 * Checks a checkpoint's tensors against the architecture its state names: every parameter present with the shape
 * the spec gives, and λ, its Adam moments and momentum (when present) shaped as the weights they belong to. Info,
 * plot, export and --resume then never meet a missing or misshapen tensor.
 */
export function checkTensors(config: RunConfig, tensors: ReadonlyMap<string, Tensor32>, file: string): void {
  let spec;
  try {
    spec = specOf(config);
  } catch (err) {
    throw new CbpError(`${file}: cannot build ${config.model} from the run state (${errorMessage(err)})`, 'BAD_CHECKPOINT');
  }
  const mismatch = (key: string, t: Tensor32 | undefined, shape: readonly number[]): never => {
    throw new CbpError(
      `${file}: tensor ${quoted(key)} ${t === undefined ? 'is missing' : `has shape [${t.shape.join(', ')}]`}; ${config.model} (${config.numClasses} classes) expects [${shape.join(', ')}]`,
      'SHAPE_MISMATCH',
    );
  };
  const infos = paramInfos(spec, config.quant);
  const shapes = new Map(infos.map((i) => [i.key, i.shape]));
  for (const info of infos) {
    const t = tensors.get(info.key);
    if (t === undefined || !sameShape(t.shape, info.shape)) mismatch(info.key, t, info.shape);
  }
  for (const [key, t] of tensors) {
    if (key.startsWith(MOMENTUM_PREFIX)) {
      const shape = shapes.get(key.slice(MOMENTUM_PREFIX.length));
      if (shape !== undefined && !sameShape(t.shape, shape)) mismatch(key, t, shape);
    }
  }
  for (const node of constrainedNodes(spec, config.quant)) {
    const shape = shapes.get(`${node.name}.weight`) ?? [];
    for (const prefix of [LAMBDA_PREFIX, LAMBDA_M_PREFIX, LAMBDA_V_PREFIX]) {
      const t = tensors.get(prefix + node.name);
      if (t !== undefined && !sameShape(t.shape, shape)) mismatch(prefix + node.name, t, shape);
    }
  }
}
