import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {VERSION} from '../core/version';
import {CONSTRAINTS, isQuant} from '../cbp/registry';
import {DATASET_FACTS, isDatasetName} from '../data/index';
import {FOLDER_TRANSFORM, folderTransform} from '../data/source';
import {IMAGENET_MEAN, IMAGENET_STD} from '../data/imagenet-stats';
import {MAX_LABELS, MAX_LABEL_LENGTH, checkLabels} from '../data/labels';
import type {RunState} from '../run/checkpoint';
import type {ModelSpec} from '../../models/spec';
import {PLAIN_STORAGE, STORAGE} from '../../onnx/codes';
import type {ActivationFacts} from '../../onnx/int8';
import {INPUT_NAME, OUTPUT_NAME, type Describe, type LayerExport, type WeightFormat, type Written} from '../../onnx/writer';

/**
 * The model card: what a deployer needs that the graph does not say (class names, how to prepare an image, the
 * oldest runtime, where the weights came from), written into every exported file as metadata_props and the
 * model's doc_string, and read back by `cbp info`. Built here only, from the run state; the keys are stable and
 * documented in docs/FORMAT.md ("Model card"), since other programs (`cbp serve`) read them.
 */
export const CARD_VERSION = 1;

/** The metadata keys of the card. A key is absent when cbp does not know its value: nothing is filled in by default. */
export const CARD_KEYS = {
  cardVersion: 'cbp.card_version',
  labels: 'cbp.labels',
  preprocessing: 'cbp.preprocessing',
  minOnnxRuntime: 'cbp.min_onnxruntime',
  weights: 'cbp.weights',
  source: 'cbp.source',
  activations: 'cbp.activations',
  calibration: 'cbp.calibration',
  int8Check: 'cbp.int8_check',
} as const;

/**
 * How an image becomes the model's input. With `known`, a deployer resizes the shorter side to `resize`
 * (bilinear; null: the image is already `shape`'s size), takes the centre `crop`×`crop` (null: none), converts to
 * `colour`, and gives the model per channel (pixel·scale − mean)/std in `layout`. Without it cbp was not told how
 * the weights were trained: only the layout and shape are facts, and every other field is null.
 */
export interface Preprocessing {
  readonly known: boolean;
  readonly layout: 'NCHW';
  /** Channels, height, width of one image as the model takes it. */
  readonly shape: readonly [number, number, number];
  readonly colour: 'RGB' | 'grey' | null;
  /** Applied to pixel values 0–255 before mean and std: 1/255. */
  readonly scale: number | null;
  readonly mean: readonly number[] | null;
  readonly std: readonly number[] | null;
  readonly resize: number | null;
  readonly crop: number | null;
}

/** Where the weights came from: trained by `cbp train` (the command that reproduces the run) or imported from a file. */
export type CardSource =
  | {
      readonly kind: 'trained';
      readonly command: string;
      readonly data: string;
      readonly epochs: number;
      readonly top1: number | null;
      readonly top5: number | null;
      /** How many test images top1 and top5 were measured on (fewer than the test set's with --test-limit); null when not recorded. */
      readonly top1Images: number | null;
      readonly cfs: number | null;
      /** The cbp that trained it; null for runs from before cbp recorded it. */
      readonly cbpVersion: string | null;
    }
  | {
      readonly kind: 'imported';
      /** The file's name (not its folder, which is private to the machine that imported it). */
      readonly file: string;
      readonly sha256: string | null;
      readonly format: string | null;
      /** What `cbp import --data` said the weights were trained on; null when not told. */
      readonly data: string | null;
      readonly cbpVersion: string | null;
    };

export interface ModelCard {
  readonly cardVersion: number;
  readonly model: string;
  readonly constraint: string;
  /** Storage chosen at export (`--weights`). */
  readonly weights: string;
  /** Outputs of the model, one per class. */
  readonly classes: number;
  readonly labels: readonly string[] | null;
  readonly preprocessing: Preprocessing;
  readonly minOnnxRuntime: string;
  readonly opset: number;
  readonly source: CardSource;
  readonly layers: readonly {readonly layer: string; readonly constrained: boolean; readonly storage: string; readonly bits: number}[];
  readonly exportedBy: string;
  /** 8-bit activations (`--activations int8`): how they were calibrated and the top-1 measured; null for float activations. */
  readonly activations: ActivationFacts | null;
}

export interface CardInput {
  readonly state: RunState;
  readonly spec: ModelSpec;
  readonly weights: WeightFormat;
  /** `--labels`: replaces what the run recorded. */
  readonly labels?: readonly string[];
}

/** The preprocessing of a data set cbp knows: a built-in set, `imagenet`, or an image folder read by cbp. */
export function preprocessingOf(data: string | undefined, shape: readonly [number, number, number]): Preprocessing {
  const unknown: Preprocessing = {known: false, layout: 'NCHW', shape, colour: null, scale: null, mean: null, std: null, resize: null, crop: null};
  if (data === undefined || data === 'unknown') return unknown;
  if (isDatasetName(data)) {
    const f = DATASET_FACTS[data];
    return {known: true, layout: 'NCHW', shape, colour: f.shape[0] === 1 ? 'grey' : 'RGB', scale: 1 / 255, mean: f.mean, std: f.std, resize: null, crop: null};
  }
  // `imagenet` and image folders: cbp's folder pipeline (and torchvision's), shorter side 256, centre crop 224; an
  // image folder cbp read for a model of another square input, the same ratio at its side (folderTransform).
  const standard = shape[1] === FOLDER_TRANSFORM.crop && shape[2] === FOLDER_TRANSFORM.crop;
  const t = standard ? FOLDER_TRANSFORM : data !== 'imagenet' && shape[0] === 3 && shape[1] === shape[2] ? folderTransform(shape[1]) : undefined;
  return {
    known: true,
    layout: 'NCHW',
    shape,
    colour: 'RGB',
    scale: 1 / 255,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    // At another input size cbp was not told how the images were sized: left unknown rather than guessed.
    resize: t?.resize ?? null,
    crop: t?.crop ?? null,
  };
}

/** The `cbp train` command that reproduces a run from its configuration. */
function trainCommand(state: RunState): string {
  const c = state.config;
  const q = (v: string): string => (/^[\w./:=+-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  // A run of an imported ONNX model takes its architecture from --init, not from --model.
  const parts = ['cbp train', ...(c.spec === undefined ? ['--model', c.model] : []), '--quant', c.quant, '--data', q(c.data), '--epochs', String(c.epochs), '--seed', String(c.seed), '--batch-size', String(c.batchSize),
    '--lr', String(c.lr), '--lr-lambda', String(c.lrLambda), '--weight-decay', String(c.weightDecay), '--period', String(c.period)];
  if (c.limit !== null) parts.push('--limit', String(c.limit));
  if (c.testLimit !== undefined) parts.push('--test-limit', String(c.testLimit));
  if (c.init !== null) parts.push('--init', q(c.init));
  if (c.method !== undefined && c.method !== 'cbp') parts.push('--method', c.method);
  if (c.base !== undefined) parts.push('--width', String(c.base));
  return parts.join(' ');
}

/** Imported runs say so in their origin; older checkpoints by the backend the importer wrote. */
function isImported(state: RunState): boolean {
  return state.origin !== undefined ? state.origin.kind === 'import' : state.backend === 'import';
}

function sourceOf(state: RunState): CardSource {
  const o = state.origin;
  if (isImported(state)) {
    const file = o?.file ?? state.config.init ?? 'unknown';
    return {kind: 'imported', file: path.basename(file), sha256: o?.sha256 ?? null, format: o?.format ?? null, data: o?.data ?? null, cbpVersion: o?.version ?? null};
  }
  const last = state.progress[state.progress.length - 1];
  return {
    kind: 'trained',
    command: trainCommand(state),
    data: state.config.data,
    epochs: state.epoch,
    top1: last?.top1 ?? null,
    top5: last?.top5 ?? null,
    top1Images: last?.testImages ?? null,
    cfs: last?.cfs ?? null,
    cbpVersion: o?.version ?? null,
  };
}

/** What the run knows of its class names; a trained run from before origins were recorded, from its data. */
function recordedLabels(state: RunState, numClasses: number): readonly string[] | null {
  const told = state.origin?.labels;
  if (told !== undefined) return checkLabels(told, numClasses, 'the checkpoint\'s recorded labels');
  if (isImported(state)) return null;
  const data = state.config.data;
  if (isDatasetName(data)) return DATASET_FACTS[data].labels;
  const train = path.join(data, 'train');
  if (fs.existsSync(train)) {
    // The class folders as the folder source sorts them; listing them is enough, the images need not be walked.
    const classes = fs.readdirSync(train, {withFileTypes: true}).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    if (classes.length === numClasses) return classes;
  }
  return null;
}

/** The data whose preprocessing the weights expect: the training data, or what `cbp import --data` said. */
export function dataOf(state: RunState): string | undefined {
  return isImported(state) ? state.origin?.data : state.config.data;
}

export function cardOf(input: CardInput, written: Written): ModelCard {
  const {state, spec} = input;
  const labels = input.labels !== undefined ? checkLabels(input.labels, spec.numClasses, '--labels') : recordedLabels(state, spec.numClasses);
  return {
    cardVersion: CARD_VERSION,
    model: spec.name,
    constraint: state.config.quant,
    weights: input.weights,
    classes: spec.numClasses,
    labels,
    preprocessing: preprocessingOf(dataOf(state), spec.inputShape),
    minOnnxRuntime: written.onnxruntime,
    opset: written.opset,
    source: sourceOf(state),
    layers: written.layers.map((l: LayerExport) => ({layer: l.layer, constrained: l.constrained, storage: l.storage, bits: l.bitsPerWeight})),
    exportedBy: VERSION,
    activations: written.activations ?? null,
  };
}

const fmt = (v: number): string => String(Number(v.toPrecision(6)));

/** The card as metadata entries (JSON values where structured) and a doc_string a person can read. */
export function cardText(card: ModelCard): {metadata: Record<string, string>; docString: string} {
  const p = card.preprocessing;
  const s = card.source;
  const metadata: Record<string, string> = {
    [CARD_KEYS.cardVersion]: String(card.cardVersion),
    'cbp.version': card.exportedBy,
    'cbp.model': card.model,
    'cbp.constraint': card.constraint,
    'cbp.levels': JSON.stringify(isQuant(card.constraint) ? CONSTRAINTS[card.constraint].levels : []),
    [CARD_KEYS.weights]: card.weights,
    [CARD_KEYS.preprocessing]: JSON.stringify(p),
    [CARD_KEYS.minOnnxRuntime]: card.minOnnxRuntime,
    [CARD_KEYS.source]: JSON.stringify(s),
    ...(card.labels !== null ? {[CARD_KEYS.labels]: JSON.stringify(card.labels)} : {}),
    // The keys of files from before the card, kept for their readers, and written only where they are facts.
    ...(s.data !== null ? {'cbp.data': s.data} : {}),
    ...(p.mean !== null && p.std !== null ? {'cbp.input_mean': JSON.stringify(p.mean), 'cbp.input_std': JSON.stringify(p.std)} : {}),
    ...(s.kind === 'trained' ? {'cbp.epochs': String(s.epochs)} : {}),
    ...(s.kind === 'trained' && s.top1 !== null && s.top5 !== null && s.cfs !== null ? {'cbp.top1': String(s.top1), 'cbp.top5': String(s.top5), 'cbp.cfs': String(s.cfs)} : {}),
    // How many test images cbp.top1 stands for: a figure from 256 images is not one from the whole test set.
    ...(s.kind === 'trained' && s.top1 !== null && s.top1Images !== null ? {'cbp.top1_images': String(s.top1Images)} : {}),
    ...(card.activations !== null ? activationKeys(card.activations) : {}),
  };
  const [c, h, w] = p.shape;
  const constraint = isQuant(card.constraint) ? `${CONSTRAINTS[card.constraint].help} weights` : 'full-precision weights';
  const packed = card.layers.filter((l) => l.constrained);
  const lines = [
    `${card.model} with ${constraint}, exported by cbp ${card.exportedBy} (--weights ${card.weights}).`,
    s.kind === 'trained'
      ? `Trained${s.cbpVersion !== null ? ` by cbp ${s.cbpVersion}` : ''}: ${s.command}` +
        (s.top1 !== null ? ` (test top-1 ${(s.top1 * 100).toFixed(2)}%${s.top1Images !== null ? ` on ${s.top1Images} test images` : ''} after ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}).` : '.')
      : `Imported from ${s.file}${s.sha256 !== null ? ` (sha256 ${s.sha256})` : ''}${s.data !== null ? `, trained on ${s.data}` : ', training data not recorded'}.`,
    `Input '${INPUT_NAME}': float32 [batch, ${c}, ${h}, ${w}] (NCHW)` +
      (p.known
        ? `, ${p.colour ?? ''}${p.resize !== null ? `, shorter side resized to ${p.resize} (bilinear)` : `, images of ${h}×${w}`}${p.crop !== null ? `, centre crop ${p.crop}` : ''}` +
          `, x = (pixel/255 − mean)/std with mean ${(p.mean ?? []).map(fmt).join(', ')} and std ${(p.std ?? []).map(fmt).join(', ')}.`
        : '; preprocessing not recorded (cbp was not told what the weights were trained on).'),
    `Output '${OUTPUT_NAME}': float32 [batch, ${card.classes}] logits` +
      (card.labels !== null ? ` for ${card.labels.slice(0, 5).join(', ')}${card.labels.length > 5 ? `, … (${card.labels.length} classes)` : ''}.` : '; class names not recorded.'),
    `Needs ONNX Runtime ≥ ${card.minOnnxRuntime} (opset ${card.opset})` +
      (packed.length > 0 ? `; ${packed.map((l) => l.layer).join(', ')} stored as ${[...new Set(packed.map((l) => l.storage))].join('/')}.` : '.'),
    ...(card.activations !== null ? [activationLine(card.activations)] : []),
    `The same facts as data: metadata_props cbp.* (cbp's docs/FORMAT.md, "Model card").`,
  ];
  return {metadata, docString: lines.join('\n')};
}

/** The card's keys of an int8-activation file. */
function activationKeys(a: ActivationFacts): Record<string, string> {
  return {
    [CARD_KEYS.activations]: 'int8',
    [CARD_KEYS.calibration]: JSON.stringify({method: a.method, images: a.images, data: a.data, folded_batch_norms: a.foldedBatchNorms, float_layers: a.floatLayers}),
    [CARD_KEYS.int8Check]: JSON.stringify({images: a.check.images, data: a.check.data, float_top1: a.check.floatTop1, int8_top1: a.check.int8Top1, agreement: a.check.agreement}),
  };
}

function activationLine(a: ActivationFacts): string {
  const c = a.check;
  const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
  return `Activations: 8-bit (uint8, QuantizeLinear/DequantizeLinear around ${a.integerLayers.length} integer layers${a.floatLayers.length > 0 ? `; ${a.floatLayers.join(', ')} float` : ''}), ` +
    `calibrated by ${a.method === 'minmax' ? 'min/max' : 'percentile'} on ${a.images} training images of ${a.data}; ` +
    (c.floatTop1 !== null && c.int8Top1 !== null
      ? `test top-1 on ${c.images} images of ${c.data}: ${pct(c.int8Top1)} (float activations ${pct(c.floatTop1)}, ${((c.int8Top1 - c.floatTop1) * 100).toFixed(2)} points).`
      : `top-1 agrees with the float-activation file on ${pct(c.agreement)} of ${c.images} images of ${c.data}.`);
}

/** The card writer for `writeOnnx`. */
export function describeWith(input: CardInput): Describe {
  return (written) => cardText(cardOf(input, written));
}

/** The card `cbp export --weights auto` would write for a checkpoint, for `cbp info` of a checkpoint folder. */
export function checkpointCard(state: RunState, spec: ModelSpec): ModelCard {
  const quant = state.config.quant;
  const plain = quant === 'none';
  const runtime = plain ? PLAIN_STORAGE : STORAGE[CONSTRAINTS[quant].storage];
  return cardOf({state, spec, weights: 'auto'}, {layers: [], opset: runtime.opset, irVersion: runtime.irVersion, onnxruntime: runtime.onnxruntime});
}

/** A card read back from a file's metadata; fields the file does not carry are null (files from before cards). */
export interface CardView {
  readonly cardVersion: number | null;
  readonly labels: readonly string[] | null;
  readonly preprocessing: Preprocessing | null;
  readonly minOnnxRuntime: string | null;
  readonly weights: string | null;
  readonly source: CardSource | null;
  /** `int8` files (`cbp.activations`): the calibration and the top-1 measured at export; null for float activations. */
  readonly activations: ActivationView | null;
}

export interface ActivationView {
  readonly type: 'int8';
  readonly method: string | null;
  readonly images: number | null;
  readonly data: string | null;
  readonly check: {readonly images: number | null; readonly floatTop1: number | null; readonly int8Top1: number | null; readonly agreement: number | null} | null;
}

function activationView(meta: Readonly<Record<string, string>>, file: string): ActivationView | null {
  const type = meta[CARD_KEYS.activations];
  if (type === undefined) return null;
  if (type !== 'int8') throw new CbpError(`${file}: metadata '${CARD_KEYS.activations}' is ${JSON.stringify(type.slice(0, 40))}, expected int8`, 'BAD_ONNX');
  const field = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null && !Array.isArray(o) ? Object.getOwnPropertyDescriptor(o, k)?.value : undefined);
  const cal = parseJson(meta, CARD_KEYS.calibration, file);
  const chk = parseJson(meta, CARD_KEYS.int8Check, file);
  return {
    type: 'int8',
    method: strOrNull(field(cal, 'method')),
    images: numOrNull(field(cal, 'images')),
    data: strOrNull(field(cal, 'data')),
    check: chk === undefined ? null : {images: numOrNull(field(chk, 'images')), floatTop1: numOrNull(field(chk, 'float_top1')), int8Top1: numOrNull(field(chk, 'int8_top1')), agreement: numOrNull(field(chk, 'agreement'))},
  };
}

function parseJson(meta: Readonly<Record<string, string>>, key: string, file: string): unknown {
  const raw = meta[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new CbpError(`${file}: metadata '${key}' is not JSON`, 'BAD_ONNX');
  }
}

function numbers(v: unknown): number[] | null {
  return Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? v.map(Number) : null;
}

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v.slice(0, 4096) : null);

/** The model card of an ONNX file's metadata, field by field; a file from before cards gives what its old keys say. */
export function readCard(meta: Readonly<Record<string, string>>, file: string, opset: number): CardView {
  const labelsRaw = parseJson(meta, CARD_KEYS.labels, file);
  let labels: string[] | null = null;
  if (labelsRaw !== undefined) {
    if (!Array.isArray(labelsRaw) || labelsRaw.length > MAX_LABELS || !labelsRaw.every((l) => typeof l === 'string' && l.length <= MAX_LABEL_LENGTH)) {
      throw new CbpError(`${file}: metadata '${CARD_KEYS.labels}' is not a list of at most ${MAX_LABELS} class names`, 'BAD_ONNX');
    }
    labels = labelsRaw.map(String);
  }
  const pre = parseJson(meta, CARD_KEYS.preprocessing, file);
  let preprocessing: Preprocessing | null = null;
  if (typeof pre === 'object' && pre !== null && !Array.isArray(pre)) {
    const shape = 'shape' in pre ? numbers(pre.shape) : null;
    if (shape === null || shape.length !== 3) throw new CbpError(`${file}: metadata '${CARD_KEYS.preprocessing}' has no shape [channels, height, width]`, 'BAD_ONNX');
    const get = (k: string): unknown => (k in pre ? Object.getOwnPropertyDescriptor(pre, k)?.value : undefined);
    const colour = get('colour');
    preprocessing = {
      known: get('known') === true,
      layout: 'NCHW',
      shape: [shape[0], shape[1], shape[2]],
      colour: colour === 'RGB' || colour === 'grey' ? colour : null,
      scale: numOrNull(get('scale')),
      mean: numbers(get('mean')),
      std: numbers(get('std')),
      resize: numOrNull(get('resize')),
      crop: numOrNull(get('crop')),
    };
  }
  const src = parseJson(meta, CARD_KEYS.source, file);
  let source: CardSource | null = null;
  if (typeof src === 'object' && src !== null && !Array.isArray(src)) {
    const get = (k: string): unknown => Object.getOwnPropertyDescriptor(src, k)?.value;
    source = get('kind') === 'imported'
      ? {kind: 'imported', file: strOrNull(get('file')) ?? 'unknown', sha256: strOrNull(get('sha256')), format: strOrNull(get('format')), data: strOrNull(get('data')), cbpVersion: strOrNull(get('cbpVersion'))}
      : {kind: 'trained', command: strOrNull(get('command')) ?? 'unknown', data: strOrNull(get('data')) ?? 'unknown', epochs: numOrNull(get('epochs')) ?? 0,
        top1: numOrNull(get('top1')), top5: numOrNull(get('top5')), top1Images: numOrNull(get('top1Images')), cfs: numOrNull(get('cfs')), cbpVersion: strOrNull(get('cbpVersion'))};
  }
  const cardVersion = meta[CARD_KEYS.cardVersion] !== undefined ? Number(meta[CARD_KEYS.cardVersion]) : null;
  return {
    cardVersion: cardVersion !== null && Number.isInteger(cardVersion) ? cardVersion : null,
    labels,
    preprocessing,
    // Files from before the card: the oldest runtime follows from the opset the writer chose for the storage.
    minOnnxRuntime: meta[CARD_KEYS.minOnnxRuntime] ?? runtimeForOpset(opset),
    weights: meta[CARD_KEYS.weights] ?? null,
    source,
    activations: activationView(meta, file),
  };
}

function runtimeForOpset(opset: number): string | null {
  if (opset === PLAIN_STORAGE.opset) return PLAIN_STORAGE.onnxruntime;
  return Object.values(STORAGE).find((s) => s.opset === opset)?.onnxruntime ?? null;
}
