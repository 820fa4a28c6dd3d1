import type {RunConfig} from './format';
import {getModel, type ModelSpec} from '../../models/index';
import {DATASET_FACTS, isDatasetName} from '../data/index';

/**
 * The architecture a checkpoint was made for: the spec it carries (an imported model), or rebuilt from the registry
 * at the run's input shape — stored in the config since runs store it, else the data's given here, else the
 * built-in data set's (a ResNet-18 trained on MNIST has a one-channel first convolution).
 */
export function specOf(config: RunConfig, dataShape?: readonly [number, number, number]): ModelSpec {
  const builtIn = isDatasetName(config.data) ? DATASET_FACTS[config.data].shape : undefined;
  return config.spec ?? getModel(config.model, config.numClasses, config.inputShape ?? dataShape ?? builtIn, config.base);
}
