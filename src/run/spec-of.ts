import type {RunConfig} from './format';
import {getModel, type ModelSpec} from '../../models/index';

/** The architecture a checkpoint was made for, rebuilt from its run configuration. */
export function specOf(config: RunConfig, dataShape?: readonly [number, number, number]): ModelSpec {
  return getModel(config.model, config.numClasses, config.inputShape ?? dataShape, config.base);
}
