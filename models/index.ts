import {alexnet} from './alexnet';
import {lenet5, mlp} from './lenet';
import {resnet18, resnet20, resnet50} from './resnet';
import {CbpError} from '../src/core/errors';
import type {ModelSpec} from './spec';

export * from './spec';
export {checkSpec, MAX_SPEC_NODES, MAX_SPEC_PARAMS} from './check';

/** `base` scales the widths (the stem's channel count; the published models' value when omitted). */
export type ModelFactory = (numClasses?: number, inputShape?: readonly [number, number, number], base?: number) => ModelSpec;

/** Every architecture cbp knows, by the name users pass to `--model`. */
export const MODELS = {
  lenet5,
  mlp,
  alexnet,
  resnet18,
  resnet50,
  resnet20,
} as const satisfies Record<string, ModelFactory>;

export type ModelName = keyof typeof MODELS;
export const MODEL_NAMES = Object.keys(MODELS).filter(isModelName);

export function isModelName(name: string): name is ModelName {
  return Object.prototype.hasOwnProperty.call(MODELS, name);
}

export function getModel(name: string, numClasses?: number, inputShape?: readonly [number, number, number], base?: number): ModelSpec {
  if (!isModelName(name)) {
    throw new Error(`unknown model '${name}': expected one of ${MODEL_NAMES.join(', ')}`);
  }
  return MODELS[name](numClasses, inputShape, base);
}

export function checkModel(value: string, flag = '--model'): ModelName {
  if (!isModelName(value)) throw new CbpError(`${flag} ${value}: unknown model, expected one of ${MODEL_NAMES.join(', ')}`, 'UNKNOWN_CHOICE');
  return value;
}

/** The models whose widths scale with `base` (--width). */
export const WIDTH_MODELS: readonly ModelName[] = ['alexnet', 'resnet18', 'resnet20', 'resnet50'];

/** A model's width: `base` when a run recorded one, else the published model's first-layer channels. */
export function modelWidth(model: ModelName, base?: number): number | undefined {
  return base ?? MODELS[model]().nodes.find((n) => n.kind === 'conv2d')?.outChannels;
}

/** The `base` to record for weights whose first conv has `channels` outputs: none when it is the published width. */
export function baseFor(model: ModelName, channels: number | undefined): number | undefined {
  return channels === undefined || channels === modelWidth(model) ? undefined : channels;
}

/**
 * The `base` to record for a state dict of `model` (a .pth's or a checkpoint's tensors by their PyTorch names):
 * the output channels of its first convolution weight (the stem), none when that is the published width.
 */
export function baseOfStateDict(model: ModelName, tensors: ReadonlyMap<string, {readonly shape: readonly number[]}>): number | undefined {
  for (const [key, t] of tensors) if (key.endsWith('.weight') && t.shape.length === 4) return baseFor(model, t.shape[0]);
  return undefined;
}
