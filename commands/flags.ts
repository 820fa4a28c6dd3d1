import {Flags} from '@oclif/core';
import {
  ACTIVATION_TYPES,
  BACKEND_CHOICES,
  CALIBRATION_METHODS,
  CbpError,
  DEVICES,
  ENGINES,
  EXPORT_FORMATS,
  MODEL_NAMES,
  QUANT_OR_NONE,
  TRAIN_METHODS,
  WEIGHT_FORMATS,
  checkBackend,
  checkChoice,
  checkDevice,
  checkEngine,
  checkMethod,
  checkModel,
  checkNumber,
  checkQuant,
  constraintHelp,
  type ActivationType,
  type BackendChoice,
  type CalibrationMethod,
  type DeviceChoice,
  type EngineChoice,
  type ExportFormat,
  type ModelName,
  type QuantOrNone,
  type TrainMethod,
  type WeightFormat,
} from '../src/index';

/*
 * Flags whose values are checked as they are parsed, by the library's own checks over its registries: a command
 * receives typed values (a union, a number) and a bad value is refused with the message the library gives everywhere.
 */

/** The usage line's form of a flag with a fixed set of values: `--device <auto|cuda|webgpu|cpu>`. */
export const choices = (values: readonly string[]): string => `<${values.join('|')}>`;

export const quantFlag = (description: string, def: QuantOrNone) =>
  Flags.custom<QuantOrNone>({description: `${description}: none (full precision) or ${constraintHelp()}`, helpValue: choices(QUANT_OR_NONE), parse: async (v) => checkQuant(v), default: def})();

export const methodFlag = (description: string, def: TrainMethod) =>
  Flags.custom<TrainMethod>({description: `${description} (${TRAIN_METHODS.join(', ')})`, helpValue: choices(TRAIN_METHODS), parse: async (v) => checkMethod(v), default: def})();

export const backendFlag = (description: string, def: BackendChoice) =>
  Flags.custom<BackendChoice>({description: `${description} (${BACKEND_CHOICES.join(', ')})`, helpValue: choices(BACKEND_CHOICES), parse: async (v) => checkBackend(v), default: def})();

export const exportFormatFlag = (description: string) =>
  Flags.custom<ExportFormat>({description: `${description} (${EXPORT_FORMATS.join(', ')})`, helpValue: choices(EXPORT_FORMATS), parse: async (v) => checkChoice('--format', v, EXPORT_FORMATS, 'format'), default: 'onnx'})();

export const weightsFlag = (description: string) =>
  Flags.custom<WeightFormat>({description: `${description} (${WEIGHT_FORMATS.join(', ')})`, helpValue: choices(WEIGHT_FORMATS), parse: async (v) => checkChoice('--weights', v, WEIGHT_FORMATS, 'weight storage'), default: 'auto'})();

export const activationsFlag = (description: string) =>
  Flags.custom<ActivationType>({description: `${description} (${ACTIVATION_TYPES.join(', ')})`, helpValue: choices(ACTIVATION_TYPES), parse: async (v) => checkChoice('--activations', v, ACTIVATION_TYPES, 'activation type'), default: 'float'})();

export const calibrationFlag = (description: string) =>
  Flags.custom<CalibrationMethod>({description: `${description} (${CALIBRATION_METHODS.join(', ')})`, helpValue: choices(CALIBRATION_METHODS), parse: async (v) => checkChoice('--calibration', v, CALIBRATION_METHODS, 'calibration method')})();

export const deviceFlag = (description: string) =>
  Flags.custom<DeviceChoice>({description: `${description} (${DEVICES.join(', ')})`, helpValue: choices(DEVICES), parse: async (v) => checkDevice(v), default: 'auto'})();

export const optionalModelFlag = (description: string) =>
  Flags.custom<ModelName>({description: `${description} (${MODEL_NAMES.join(', ')})`, helpValue: choices(MODEL_NAMES), parse: async (v) => checkModel(v)})();

export const optionalQuantFlag = (description: string) =>
  Flags.custom<QuantOrNone>({description: `${description} (${QUANT_OR_NONE.join(', ')})`, helpValue: choices(QUANT_OR_NONE), parse: async (v) => checkQuant(v)})();

export const engineFlag = (description: string) =>
  Flags.custom<EngineChoice>({description: `${description} (${ENGINES.join(', ')})`, helpValue: choices(ENGINES), parse: async (v) => checkEngine(v), default: 'auto'})();

/** A finite number > min (or ≥ min with inclusive), parsed at the flag. */
export const numberFlag = (flag: string, description: string, min: number, inclusive: boolean, def: number) =>
  Flags.custom<number>({description, parse: async (input) => checkNumber(`--${flag}`, parseNumber(flag, input), min, inclusive), default: def})();

function parseNumber(flag: string, input: string): number {
  const v = Number(input);
  if (input.trim() === '' || Number.isNaN(v)) throw new CbpError(`--${flag} '${input}': expected a number`, 'BAD_FLAG');
  return v;
}
