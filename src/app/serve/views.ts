import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../core/errors';
import {readBytes} from '../../core/read';
import {STATE_FILE, WEIGHTS_FILE, readCheckpoint, type EpochRecord, type RunConfig} from '../../run/checkpoint';
import {decodeOnnx, metadataOf} from '../../../onnx/reader';
import {inspectLoadedCheckpoint, inspectOnnxBytes, type ModelInfo} from '../info';
import {curvesSvg, weightsSvg} from '../plot';
import {lastWriteOf, runStatus, type RunStatus} from './catalog';
import {labelsOf, preprocessingOf, type CardNotes, type Labels, type Preprocessing} from './page-input';
import type {ServedRoot} from './paths';

export interface RunDetail {
  readonly path: string;
  readonly status: RunStatus;
  readonly lastWrite: number;
  readonly config: RunConfig;
  readonly epoch: number;
  readonly progress: readonly EpochRecord[];
  /** A `cbp train` command line that starts the same run. */
  readonly command: string;
  readonly backend: string;
  readonly info: ModelInfo;
  /** SVG made by plot.ts, as `cbp plot` draws it. */
  readonly curves: string;
  readonly weights: string | null;
}

export interface Dims {
  readonly name: string;
  readonly dims: readonly (number | string)[];
}

export interface ModelCard {
  readonly path: string;
  readonly bytes: number;
  readonly lastWrite: number;
  /** Every metadata_props entry, in the file's order. */
  readonly metadata: readonly {key: string; value: string}[];
  readonly producer: string;
  readonly opset: number;
  readonly input: Dims;
  readonly output: Dims;
  readonly info: ModelInfo;
  readonly preprocessing: Preprocessing;
  readonly labels: Labels;
  readonly warnings: readonly string[];
}

function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The flags of `cbp train` that a run's config records; the test-set limit and engine are not recorded. */
export function trainCommand(c: RunConfig, out: string): string {
  const flags: [string, string | number | null | undefined][] = [
    ['model', c.model], ['quant', c.quant], ['data', c.data], ['epochs', c.epochs], ['limit', c.limit], ['test-limit', c.testLimit], ['init', c.init],
    ['method', c.method === 'ste' ? 'ste' : undefined], ['width', c.base], ['seed', c.seed], ['batch-size', c.batchSize], ['lr', c.lr],
    ['lr-lambda', c.lrLambda], ['weight-decay', c.weightDecay], ['period', c.period], ['out', out],
  ];
  return ['cbp train', ...flags.filter(([, v]) => v !== null && v !== undefined).map(([f, v]) => `--${f} ${shellWord(String(v))}`)].join(' ');
}

/** A run folder's page: state, curves, histograms and `cbp info` of its latest checkpoint. */
export function runDetail(root: ServedRoot, rel: string, now = Date.now()): RunDetail {
  const dir = root.resolve(rel);
  // Each file read is resolved on its own, so a state or weights file that is a symlink out of the root is refused.
  for (const f of [STATE_FILE, WEIGHTS_FILE]) root.resolve(root.relative(path.join(dir, f)));
  const ck = readCheckpoint(dir, 'run');
  const {state} = ck;
  const lastWrite = lastWriteOf(dir);
  return {
    path: root.relative(dir) || '.',
    status: runStatus(state, lastWrite, now),
    lastWrite,
    config: state.config,
    epoch: state.epoch,
    progress: state.progress,
    command: trainCommand(state.config, path.join(root.given, root.relative(dir))),
    backend: state.backend,
    info: {...inspectLoadedCheckpoint(ck), file: root.relative(dir) || '.'},
    curves: state.progress.length > 0 ? curvesSvg(state).svg : '',
    weights: weightsSvg(state.config, ck.tensors)?.svg ?? null,
  };
}

/** The bytes of an .onnx file below the root; no other kind of file is handed out. */
export function modelBytes(root: ServedRoot, rel: string): {file: string; bytes: Buffer} {
  const file = root.resolve(rel);
  if (!file.endsWith('.onnx')) throw new CbpError(`${rel}: only .onnx files are served`, 'OUTSIDE_ROOT');
  return {file, bytes: readBytes(file)};
}

function dimsOf(v: {name: string; type?: {tensor_type?: {shape?: {dim?: ({dim_value: number} | {dim_param: string})[]}}}} | undefined): Dims {
  const dim = v?.type?.tensor_type?.shape?.dim ?? [];
  return {name: v?.name ?? '', dims: dim.map((d) => ('dim_value' in d && d.dim_value > 0 ? d.dim_value : 'dim_param' in d && d.dim_param !== '' ? d.dim_param : '?'))};
}

/** A model's card: its metadata as it is, `cbp info`, input and output, and how the page should feed it. */
export function modelCard(root: ServedRoot, rel: string): ModelCard {
  const {file, bytes} = modelBytes(root, rel);
  const model = decodeOnnx(bytes, rel);
  const meta = metadataOf(model);
  const input = dimsOf(model.graph.input.find((i) => !model.graph.initializer.some((t) => t.name === i.name)));
  const output = dimsOf(model.graph.output[0]);
  const info = inspectOnnxBytes(bytes, rel);
  const notes: CardNotes = {warnings: []};
  const last = output.dims[output.dims.length - 1];
  const classes = typeof last === 'number' ? last : 0;
  return {
    path: root.relative(file),
    bytes: bytes.length,
    lastWrite: fs.statSync(file).mtimeMs,
    metadata: model.metadata_props.map((p) => ({key: p.key, value: p.value})),
    producer: `${model.producer_name} ${model.producer_version}`.trim(),
    opset: model.opset_import.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0,
    input,
    output,
    info: {...info, file: root.relative(file)},
    preprocessing: preprocessingOf(meta, input.dims, notes),
    labels: labelsOf(meta, classes, notes),
    warnings: notes.warnings,
  };
}
