/**
 * cbp as a library: train networks whose weights take a few fixed values by CBP, import the published PyTorch
 * checkpoints, export compact ONNX, evaluate with ONNX Runtime. The same functions the `cbp` commands call; options
 * are typed from the registries (constraints, models, data sets), and every failure is a CbpError with a stable code.
 */
export type {TrainResult} from './train/trainer';
export {TRAIN_DEFAULTS, TRAIN_OPTIONS, defaultRunFolder, type TrainOptions, type StepProgress} from './train/options';
export {trainRun as train, type TrainRunOptions} from './app/train';
export {ENGINES, checkEngine, type EngineChoice} from './train/registry';
export {exportCheckpoint, storageHelp, ACTIVATION_TYPES, EXPORT_DEFAULTS, EXPORT_OPTIONS, EXPORT_FORMATS, FAST_TOLERANCE, checkActivations, checkCalibration, checkExportFormat, checkWeightFormat, type ActivationType, type ExportFormat, type ExportOptions, type ExportResult} from './app/export';
export {CALIBRATION_IMAGES} from './app/int8';
export {CALIBRATION_METHODS, DEFAULT_CALIBRATION, PERCENTILE, type ActivationFacts, type CalibrationMethod} from '../onnx/int8';
export {evaluate, EVALUATE_OPTIONS, PUBLISHED_DEFAULTS, type EvaluateOptions} from './app/evaluate';
export {DEFAULT_TIMEOUT, EVAL_DEFAULTS, EVAL_SETTINGS, type EvalOptions, type EvalResult} from './eval/evaluate';
export {mergeResults} from './eval/merge';
export {shardFromEnv, SHARD_COUNT_VAR, type AutoShard} from './eval/shard-env';
export {CARD_KEYS, CARD_VERSION, readCard, type ModelCard, type CardView, type ActivationView, type CardSource, type Preprocessing} from './app/card';
export {importPth, type ImportOptions, type ImportResult} from './app/import-torch';
export {IMPORT_OPTIONS, importModel, isOnnxFile, type ImportRunOptions, type ImportRunResult} from './app/import';
export {importOnnx, type OnnxImportOptions, type OnnxImportResult} from './app/import-onnx';
export {MAPPED_OPS} from '../onnx/import/graph';
export {FOLD_OPS} from '../onnx/import/fold';
export {inspect as info, type ModelInfo, type LayerInfo} from './app/info';
export {PLOT_OPTIONS, plotRun as plot, type PlotOptions, type PlotResult} from './app/plot';
export {publishedOnnx} from './app/published';
export {SERVE_OPTIONS, serve, type ServeOptions, type Served} from './app/serve/server';
export {CbpError, ERROR_CODES, type ErrorCode, type ErrorDetails} from './core/errors';
export {terminalSafe} from './core/shown';
export {checkChoice, checkNumber} from './core/checks';
export {checkEntry, defaultsOf, entryHelp, flagName, resolveOptions, usageChoices, type DefaultsOf, type FlagName, type GivenOptions, type OptionEntry, type OptionKind, type OptionSchema, type ResolvedOptions, type ValueOf} from './core/options';
export type {Tensor32, Weights} from './core/weights';
export {CONSTRAINTS, QUANTS, QUANT_OR_NONE, SEED_QUANTS, checkQuant, constraintHelp, type ConstraintDef, type Quant, type QuantOrNone} from './cbp/registry';
export {MODEL_NAMES, checkModel, getModel, type ModelName} from '../models/index';
export type {ModelSpec, SpecNode} from '../models/spec';
export {DATASET_NAMES, type DatasetName} from './data/index';
export {BACKEND_CHOICES, checkBackend, type BackendChoice} from './core/backend-choice';
export {TRAIN_METHODS, checkMethod, type TrainMethod} from './run/checkpoint';
export {WEIGHT_FORMATS, type WeightFormat} from '../onnx/writer';
export {DEVICES, checkDevice, type DeviceChoice} from './core/ort';
export {VERSION} from './core/version';
