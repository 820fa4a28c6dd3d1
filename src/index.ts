/**
 * cbp as a library: train networks whose weights take a few fixed values by CBP, import the published PyTorch
 * checkpoints, export compact ONNX, evaluate with ONNX Runtime. The same functions the `cbp` commands call; options
 * are typed from the registries (constraints, models, data sets), and every failure is a CbpError with a stable code.
 */
import type {TrainResult} from './train/trainer';
import type {TrainOptions} from './train/options';

export type {TrainResult} from './train/trainer';
export type {TrainOptions, StepProgress} from './train/options';

/** CBP training (see TrainOptions). TensorFlow.js loads on the first call, not when the library is required. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  return (await import('./train/trainer')).train(opts);
}
export {exportCheckpoint, EXPORT_FORMATS, type ExportOptions, type ExportResult} from './app/export';
export {evaluateOnnx as evaluate, type EvalOptions, type EvalResult} from './eval/evaluate';
export {mergeResults} from './eval/merge';
export {shardFromEnv, SHARD_COUNT_VAR, type AutoShard} from './eval/shard-env';
export {CARD_KEYS, CARD_VERSION, readCard, type ModelCard, type CardView, type CardSource, type Preprocessing} from './app/card';
export {importPth, type ImportOptions, type ImportResult} from './torch/import';
export {importFile, isOnnxFile, type ImportFileOptions, type ImportFileResult} from './app/import';
export {importOnnx, MAPPED_OPS, FOLD_OPS, type OnnxImportOptions, type OnnxImportResult} from '../onnx/import/index';
export {inspect as info, type ModelInfo, type LayerInfo} from './app/info';
export {plotRun as plot, type PlotResult} from './app/plot';
export {publishedOnnx} from './app/published';
export {serve, type ServeOptions, type Served} from './app/serve/server';
export {CbpError, ERROR_CODES, type ErrorCode} from './core/errors';
export type {Tensor32, Weights} from './core/weights';
export {CONSTRAINTS, QUANTS, QUANT_OR_NONE, SEED_QUANTS, type ConstraintDef, type Quant, type QuantOrNone} from './cbp/registry';
export {MODEL_NAMES, getModel, type ModelName} from '../models/index';
export type {ModelSpec, SpecNode} from '../models/spec';
export {DATASET_NAMES, type DatasetName} from './data/index';
export {BACKEND_CHOICES, type BackendChoice} from './core/backend-choice';
export {TRAIN_METHODS, type TrainMethod} from './run/checkpoint';
export {WEIGHT_FORMATS, type WeightFormat} from '../onnx/writer';
export {DEVICES} from './core/ort';
export {VERSION} from './core/version';
