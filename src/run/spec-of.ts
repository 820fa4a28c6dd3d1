import type {RunConfig} from './format';
import {getModel, type ModelSpec} from '../../models/index';

/** The architecture a checkpoint was made for: the spec it carries (an imported model), or rebuilt from the registry. */
export function specOf(config: RunConfig, dataShape?: readonly [number, number, number]): ModelSpec {
  return config.spec ?? getModel(config.model, config.numClasses, config.inputShape ?? dataShape, config.base);
}
