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
  checkActivations,
  checkBackend,
  checkCalibration,
  checkDevice,
  checkEngine,
  checkExportFormat,
  checkMethod,
  checkModel,
  checkNumber,
  checkQuant,
  checkWeightFormat,
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
 * Flags whose values are checked as they are parsed, by the library's own checks over its registries (for oclif's
 * help and usage line, and typed values): a bad value is refused with the message the library gives. The library
 * does not rely on it: its resolve step checks every option again (resolveTrainOptions, resolveEvaluateOptions,
 * resolveExportOptions). The defaults are the library's (TRAIN_DEFAULTS, EVAL_DEFAULTS, EXPORT_DEFAULTS).
 */

/** The usage line's form of a flag with a fixed set of values: `--device <auto|cuda|webgpu|cpu>`. */
export const choices = (values: readonly string[]): string => `<${values.join('|')}>`;

export const quantFlag = (description: string, def: QuantOrNone) =>
  Flags.custom<QuantOrNone>({description: `${description}: none (full precision) or ${constraintHelp()}`, helpValue: choices(QUANT_OR_NONE), parse: async (v) => checkQuant(v), default: def})();

export const methodFlag = (description: string, def: TrainMethod) =>
  Flags.custom<TrainMethod>({description: `${description} (${TRAIN_METHODS.join(', ')})`, helpValue: choices(TRAIN_METHODS), parse: async (v) => checkMethod(v), default: def})();

export const backendFlag = (description: string, def: BackendChoice) =>
  Flags.custom<BackendChoice>({description: `${description} (${BACKEND_CHOICES.join(', ')})`, helpValue: choices(BACKEND_CHOICES), parse: async (v) => checkBackend(v), default: def})();

export const exportFormatFlag = (description: string, def: ExportFormat) =>
  Flags.custom<ExportFormat>({description: `${description} (${EXPORT_FORMATS.join(', ')})`, helpValue: choices(EXPORT_FORMATS), parse: async (v) => checkExportFormat(v), default: def})();

export const weightsFlag = (description: string, def: WeightFormat) =>
  Flags.custom<WeightFormat>({description: `${description} (${WEIGHT_FORMATS.join(', ')})`, helpValue: choices(WEIGHT_FORMATS), parse: async (v) => checkWeightFormat(v), default: def})();

export const activationsFlag = (description: string, def: ActivationType) =>
  Flags.custom<ActivationType>({description: `${description} (${ACTIVATION_TYPES.join(', ')})`, helpValue: choices(ACTIVATION_TYPES), parse: async (v) => checkActivations(v), default: def})();

export const calibrationFlag = (description: string) =>
  Flags.custom<CalibrationMethod>({description: `${description} (${CALIBRATION_METHODS.join(', ')})`, helpValue: choices(CALIBRATION_METHODS), parse: async (v) => checkCalibration(v)})();

export const deviceFlag = (description: string, def: DeviceChoice) =>
  Flags.custom<DeviceChoice>({description: `${description} (${DEVICES.join(', ')})`, helpValue: choices(DEVICES), parse: async (v) => checkDevice(v), default: def})();

export const optionalModelFlag = (description: string) =>
  Flags.custom<ModelName>({description: `${description} (${MODEL_NAMES.join(', ')})`, helpValue: choices(MODEL_NAMES), parse: async (v) => checkModel(v)})();

export const optionalQuantFlag = (description: string) =>
  Flags.custom<QuantOrNone>({description: `${description} (${QUANT_OR_NONE.join(', ')})`, helpValue: choices(QUANT_OR_NONE), parse: async (v) => checkQuant(v)})();

export const engineFlag = (description: string, def: EngineChoice) =>
  Flags.custom<EngineChoice>({description: `${description} (${ENGINES.join(', ')})`, helpValue: choices(ENGINES), parse: async (v) => checkEngine(v), default: def})();

/** A finite number > min (or ≥ min with inclusive), parsed at the flag. */
export const numberFlag = (flag: string, description: string, min: number, inclusive: boolean, def: number) =>
  Flags.custom<number>({description, parse: async (input) => checkNumber(`--${flag}`, parseNumber(flag, input), min, inclusive), default: def})();

function parseNumber(flag: string, input: string): number {
  const v = Number(input);
  if (input.trim() === '' || Number.isNaN(v)) throw new CbpError(`--${flag} '${input}': expected a number`, 'BAD_FLAG');
  return v;
}
