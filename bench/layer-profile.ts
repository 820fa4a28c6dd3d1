import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {decodeOnnx} from '../onnx/reader';
import {attributeOf} from '../onnx/schema';

/** The classes of work a CNN's inference time is split into, by what ONNX Runtime's profiler says each kernel ran. */
export const LAYER_CLASSES = ['grouped and depthwise convolutions', '1×1 convolutions', 'other convolutions', 'dense layers', 'everything else'] as const;
export type LayerClass = (typeof LAYER_CLASSES)[number];

interface ProfileEvent {
  readonly cat?: string;
  readonly name?: string;
  readonly dur?: number;
  readonly ts?: number;
  readonly args?: {readonly op_name?: string; readonly input_type_shape?: readonly Record<string, readonly number[]>[]};
}

/** The filter's dims of a convolution kernel as the profiler lists its inputs (QLinearConv: input 3; Conv: input 1). */
function filterDims(e: ProfileEvent): readonly number[] | undefined {
  const inputs = e.args?.input_type_shape ?? [];
  const k = e.args?.op_name === 'QLinearConv' ? 3 : 1;
  const dims = inputs[k] === undefined ? undefined : Object.values(inputs[k])[0];
  return dims !== undefined && dims.length === 4 ? dims : undefined;
}

/** Each Conv node of the file, by name: its class from its group and kernel_shape attributes. */
function convClasses(file: string): Map<string, LayerClass> {
  const m = decodeOnnx(fs.readFileSync(file), file);
  const classes = new Map<string, LayerClass>();
  for (const n of m.graph.node) {
    if (n.op_type !== 'Conv') continue;
    const group = Number(attributeOf(n, 'group')?.i ?? 1);
    const kernel = (attributeOf(n, 'kernel_shape')?.ints ?? []).map(Number);
    classes.set(n.name, group > 1 ? 'grouped and depthwise convolutions' : kernel.every((k) => k === 1) ? '1×1 convolutions' : 'other convolutions');
  }
  return classes;
}

/**
 * A kernel's class: a convolution by the file's Conv node it was made from (ONNX Runtime keeps the name, adding
 * `_token_N` or `_nchwc`; the profiler leaves a QLinearConv's prepacked filter out of its inputs), else by its
 * filter's and input's dims as the profiler lists them.
 */
export function classify(e: ProfileEvent, convs: ReadonlyMap<string, LayerClass>): LayerClass {
  const op = e.args?.op_name ?? '';
  if (/Conv$/.test(op)) {
    const node = (e.name ?? '').replace(/_kernel_time$/, '').replace(/(_token_\d+|_nchwc)+$/, '');
    const own = convs.get(node);
    if (own !== undefined) return own;
    // A Conv fused with the activation after it, under the activation's name: one input channel per group of an
    // input with more than one (NCHW, or NCHWc's blocks) is depthwise.
    const w = filterDims(e);
    const x = Object.values(e.args?.input_type_shape?.[0] ?? {})[0] ?? [];
    const channels = x.length === 5 ? x[1] * x[4] : (x[1] ?? 1);
    if (w === undefined) return 'other convolutions';
    if (w[1] === 1 && channels > 1 && w[2] * w[3] > 1) return 'grouped and depthwise convolutions';
    return w[2] === 1 && w[3] === 1 ? '1×1 convolutions' : 'other convolutions';
  }
  if (/^(Gemm|QGemm|MatMul|MatMulInteger|QLinearMatMul|FusedMatMul|FusedGemm|MatMulNBits)$/.test(op)) return 'dense layers';
  return 'everything else';
}

/**
 * Milliseconds per run of each class of kernels of `file`, opened with no session options but ONNX Runtime's profiler,
 * over `runs` runs of `x` after two untimed ones (their kernels' own times, as the profiler records them).
 */
export async function layerProfile(file: string, x: ort.Tensor, runs: number): Promise<Map<LayerClass, number>> {
  const prefix = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-layer-profile-')), 'p');
  const session = await ort.InferenceSession.create(file, {enableProfiling: true, profileFilePrefix: prefix});
  const feeds = {[session.inputNames[0]]: x};
  for (let i = 0; i < runs + 2; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  // The profiler writes one file, `${prefix}_<time>.json`, in the folder made for it.
  const dir = path.dirname(prefix);
  const out = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.json')) ?? '');
  const events = JSON.parse(fs.readFileSync(out, 'utf8')) as ProfileEvent[];
  fs.rmSync(dir, {recursive: true, force: true});
  // The last `runs` model runs only.
  const starts = events.filter((e) => e.name === 'model_run').map((e) => e.ts ?? 0).sort((a, b) => a - b);
  const from = starts[starts.length - runs] ?? 0;
  const convs = convClasses(file);
  const totals = new Map<LayerClass, number>(LAYER_CLASSES.map((c) => [c, 0]));
  for (const e of events) {
    if (e.cat !== 'Node' || !(e.name ?? '').endsWith('_kernel_time') || (e.ts ?? 0) < from) continue;
    const c = classify(e, convs);
    totals.set(c, (totals.get(c) ?? 0) + (e.dur ?? 0) / 1000 / runs);
  }
  return totals;
}
