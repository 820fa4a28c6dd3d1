import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import {CbpError} from '../../core/errors';
import {TopK} from '../../core/topk';
import {dropoutMask} from '../../core/rng';
import {sizeOf, type Tensor32, type Weights} from '../../core/weights';
import {cpuWillRun, openSession, type DeviceChoice, type OpenSession} from '../../core/ort';
import {MIN_NCHWC_BLOCK, nchwcBlockSize} from './nchwc';
import {ascendLambdaArrays, type LambdaArrays} from '../../cbp/ascent';
import {cfsOf} from '../../cbp/constraint-arrays';
import {fusedUpdate} from '../../cbp/fused';
import {UpdateThreads} from './update-threads';
import {levelCounts, LEVELS, quantizeArray} from '../../cbp/levels';
import {updateWeights} from '../../cbp/update';
import {constrainedNodes, paramInfos, type ModelSpec} from '../../../models/spec';
import {engineState, lambdaKeys, momentumKey} from '../state-keys';
import {INPUT_NAME, OUTPUT_NAME} from '../../../onnx/writer';
import {storedValues, writeEvalGraph, type EvalGraph} from './eval-graph';
import {writeTrainGraph} from './train-graph';
import type {Engine, EngineOptions, LevelHistogram} from '../engine';
import {updateRunningStats} from '../running-stats';
import {EVAL_BATCH} from '../../data/source';

export interface OrtEngineOptions extends EngineOptions {
  readonly device: DeviceChoice;
  /**
   * Threads of the update pass between two runs: 2 splits every constrained layer with a worker thread
   * (update-threads.ts). Default: 2 from THREADS_MIN_WEIGHTS constrained weights on a machine with two cores or more.
   */
  readonly updateThreads?: 1 | 2;
  /**
   * Blocked (NCHWc) convolutions where the CPU runs the graph and the channels fit (src/train/ort/train-graph.ts); default on.
   * Off, every convolution is a plain Conv (the tests compare the two).
   */
  readonly nchwc?: boolean;
  /** Receives the one line saying which device runs the steps and why. */
  readonly log?: (line: string) => void;
}

interface ConstrainedLayer {
  readonly name: string;
  readonly weightKey: string;
  readonly scale: number;
  readonly levels: readonly number[];
  /** The quantized weight fed to the graph, rewritten by each step's update for the next. */
  readonly quantized: Float32Array<ArrayBuffer>;
  /** λ in shared memory when the update runs on two threads (its Adam moments stay on this thread). */
  readonly lambda: LambdaArrays;
}

function arrayOf(map: ReadonlyMap<string, Tensor32> | undefined, key: string, shape: readonly number[], what: string, shared = false): Float32Array {
  const t = map?.get(key);
  if (t !== undefined && t.shape.join(',') !== shape.join(',')) throw new CbpError(`${what} '${key}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, 'SHAPE_MISMATCH');
  const out = shared ? new Float32Array(new SharedArrayBuffer(4 * sizeOf(shape))) : new Float32Array(sizeOf(shape));
  if (t !== undefined) out.set(t.data);
  return out;
}

/**
 * The ONNX Runtime engine: the whole forward and backward pass is one ONNX graph written from the ModelSpec
 * (src/train/ort/train-graph.ts) and run by onnxruntime-node's inference build; the weights, momentum and multipliers live
 * here as arrays in PyTorch's layout, and the CBP update is the engine-free code of src/cbp.
 */
export async function createOrtEngine(o: OrtEngineOptions): Promise<Engine> {
  const {spec, quant} = o;
  // ONNX Runtime's NCHWc convolution kernels exist only on its CPU provider; the probe (two small sessions) is
  // skipped for models with no convolution a block could fit (LeNet-5's 1→20→50 channels).
  const blockable = spec.nodes.some((n) => n.kind === 'conv2d' && n.inChannels % MIN_NCHWC_BLOCK === 0 && n.outChannels % MIN_NCHWC_BLOCK === 0);
  const nchwcBlock = o.nchwc !== false && blockable && cpuWillRun(o.device) ? await nchwcBlockSize() : undefined;
  const graph = writeTrainGraph(spec, {nchwcBlock});
  const opened = await openSession(graph.bytes, o.device, `${spec.name} training graph`, undefined, {memoryPattern: false});
  const {session} = opened;
  o.log?.(opened.line);
  const infos = paramInfos(spec, quant);
  const nodes = constrainedNodes(spec, quant);
  const weightKeys = new Set(nodes.map((node) => `${node.name}.weight`));
  const constrainedWeights = infos.reduce((n, i) => n + (weightKeys.has(i.key) ? sizeOf(i.shape) : 0), 0);
  // Large models update on two threads (update-threads.ts): their latent weights, momentum and λ are made in shared
  // memory from the start (one copy of each: on this machine every fresh megabyte costs, see docs/BENCHMARKS.md).
  const threads = o.updateThreads ?? (constrainedWeights >= THREADS_MIN_WEIGHTS && os.availableParallelism() >= 2 ? 2 : 1);
  const shared = threads === 2 && nodes.length > 0;
  const inShared = (key: string): boolean => shared && weightKeys.has(key);
  // Every tensor of the model (latent weights, biases, batch norm, running statistics, scales), PyTorch layout.
  const tensors = new Map<string, Float32Array>();
  for (const info of infos) {
    if (!o.weights.has(info.key)) throw new CbpError(`weights for model ${spec.name}: no '${info.key}'`, 'KEY_MISMATCH');
    tensors.set(info.key, arrayOf(o.weights, info.key, info.shape, `weights for model ${spec.name}:`, inShared(info.key)));
  }
  const trainable = infos.filter((i) => i.trainable);
  const momentum = new Map<string, Float32Array>(trainable.map((i) => [i.key, arrayOf(o.stored, momentumKey(i.key), i.shape, 'checkpoint tensor', inShared(i.key))]));
  const layers: ConstrainedLayer[] = nodes.map((node) => {
    const weightKey = `${node.name}.weight`;
    const w = tensors.get(weightKey) ?? new Float32Array(0);
    const shape = infos.find((i) => i.key === weightKey)?.shape ?? [];
    const scale = tensors.get(`${node.name}.scale`)?.[0] ?? NaN;
    const keys = lambdaKeys(node.name);
    if (!(scale > 0) || !Number.isFinite(scale)) throw new CbpError(`weights for model ${spec.name}: scale of '${node.name}' is ${scale}, expected a positive number`);
    return {
      name: node.name,
      weightKey,
      scale,
      levels: quant === 'none' ? [] : LEVELS[quant],
      quantized: new Float32Array(w.length),
      lambda: {
        lambda: arrayOf(o.stored, keys.lambda, shape, 'checkpoint tensor', shared),
        m: arrayOf(o.stored, keys.m, shape, 'checkpoint tensor'),
        v: arrayOf(o.stored, keys.v, shape, 'checkpoint tensor'),
      },
    };
  });
  const pool = shared ? startThreads(layers, tensors, momentum) : undefined;
  const constrainedKeys = new Map(layers.map((l) => [l.weightKey, l]));
  const roles = new Map(infos.map((i) => [i.key, i.role]));
  const [c, h, w] = spec.inputShape;
  const tensorOf = (key: string): Float32Array => {
    const t = tensors.get(key);
    if (t === undefined) throw new Error(`internal: no tensor ${key}`);
    return t;
  };

  // The quantized weights fed to the next step are written by the update pass (fusedUpdate); they are computed
  // from the latent weights only before the first step.
  let quantizedFresh = false;
  const masks = graph.masks.map((m) => ({...m, perSampleCount: sizeOf(m.perSample)}));
  const step: Engine['step'] = async (batch, ucs, lr, seed = 0) => {
    const n = batch.count;
    if (!quantizedFresh) for (const l of layers) quantizeArray(tensorOf(l.weightKey), l.scale, l.levels, l.quantized);
    quantizedFresh = true;
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('float32', batch.x, [n, c, h, w]),
      labels: new ort.Tensor('int64', BigInt64Array.from(batch.y, (v) => BigInt(v)), [n]),
    };
    for (const p of graph.params) feeds[p.key] = new ort.Tensor('float32', constrainedKeys.get(p.key)?.quantized ?? tensorOf(p.key), [...p.shape]);
    masks.forEach((m, i) => {
      feeds[m.input] = new ort.Tensor('float32', dropoutMask(seed, i, m.p, new Float32Array(n * m.perSampleCount)), [n, ...m.perSample]);
    });
    const out = await session.run(feeds);
    const floats = (name: string): Float32Array => {
      const t = out[name];
      if (t === undefined || !(t.data instanceof Float32Array)) throw new Error(`internal: training graph output ${name} missing or not float32`);
      return t.data;
    };
    const loss = floats('loss')[0];
    let lagrangian = loss;
    if (Number.isFinite(loss)) {
      // One pass per tensor after the run: for a constrained layer, Σ λ⊙c(w) and its gradient at the weights the
      // step saw, the update, and the next step's quantized weights (src/cbp/fused.ts) — on two threads for large
      // models.
      const rule = (key: string): {lr: number; weightDecay: number; clamp: boolean} => ({lr, weightDecay: roles.get(key) === 'weight' ? o.weightDecay : 0, clamp: constrainedKeys.has(key)});
      const momentumOf = (key: string): Float32Array => {
        const m = momentum.get(key);
        if (m === undefined) throw new Error(`internal: no momentum for ${key}`);
        return m;
      };
      for (const p of graph.params) if (!constrainedKeys.has(p.key)) updateWeights(tensorOf(p.key), floats(`grad.${p.key}`), momentumOf(p.key), rule(p.key));
      if (pool !== undefined) {
        // Every constrained layer has the same rule (a conv or dense weight: decay, clamp).
        const values = await pool.update(layers.map((l) => floats(`grad.${l.weightKey}`)), {lr, weightDecay: o.weightDecay, clamp: true}, ucs, o.constraintTerm);
        for (const v of values) lagrangian += v;
      } else {
        for (const l of layers) lagrangian += fusedUpdate(tensorOf(l.weightKey), floats(`grad.${l.weightKey}`), momentumOf(l.weightKey), rule(l.weightKey), {scale: l.scale, levels: l.levels, lambda: o.constraintTerm ? l.lambda.lambda : undefined, quantized: l.quantized}, ucs);
      }
      for (const bn of graph.batchNorms) updateRunningStats(tensorOf(`${bn.name}.running_mean`), tensorOf(`${bn.name}.running_var`), floats(`mean.${bn.name}`), floats(`var.${bn.name}`), bnMomentumOf(spec, bn.name), n * bn.perSample);
    }
    for (const t of Object.values(out)) t.dispose();
    return {loss, lagrangian, finite: Number.isFinite(loss) && Number.isFinite(lagrangian)};
  };

  let evalSession: {graph: EvalGraph; opened: OpenSession; scratch: (key: string) => Float32Array} | undefined;
  const openEvalSession = async (): Promise<NonNullable<typeof evalSession>> => {
    const graph = writeEvalGraph(spec, quant, nchwcBlock);
    // Without the memory pattern, as the training graph: ONNX Runtime plans it in the first run and allocates it anew
    // in the second, so two runs instead of one touch fresh memory (ResNet-18, batch 32: 1.4 + 1.4 s, then 0.8).
    const opened = await openSession(graph.bytes, o.device, `${spec.name} evaluation graph`, undefined, {memoryPattern: false});
    const buffers = new Map<string, Float32Array>();
    const scratch = (key: string): Float32Array => {
      let b = buffers.get(key);
      if (b === undefined) buffers.set(key, (b = new Float32Array(tensorOf(key).length)));
      return b;
    };
    return {graph, opened, scratch};
  };

  const weightsNow = (): Weights => new Map([...tensors].map(([k, v]) => [k, {shape: infos.find((i) => i.key === k)?.shape ?? [v.length], data: v}]));

  return {
    backend: `onnxruntime-${opened.device}`,
    layout: 'NCHW',
    constrainedLayers: layers.length,
    constrainedWeights,
    step,
    ascendLambda(ucs, n) {
      for (const l of layers) ascendLambdaArrays(l.lambda, tensorOf(l.weightKey), l.scale, l.levels, ucs, o.lrLambda, n);
    },
    async evaluate() {
      // The model as cbp exports it (quantized weights as float32, running statistics), in the same runtime: its
      // graph is opened once (eval-graph.ts) and fed the weights of the moment.
      evalSession ??= await openEvalSession();
      const {session} = evalSession.opened;
      const weightFeeds: Record<string, ort.Tensor> = {};
      for (const p of evalSession.graph.params) {
        const layer = p.constrained ? constrainedKeys.get(p.key) : undefined;
        const data = layer !== undefined && quant !== 'none' ? storedValues(tensorOf(p.key), layer.scale, quant, evalSession.scratch(p.key)) : tensorOf(p.key);
        weightFeeds[p.key] = new ort.Tensor('float32', data, [...p.shape]);
      }
      const topk = new TopK();
      for await (const batch of o.source.test.batches(EVAL_BATCH[o.source.kind], 'NCHW')) {
        if (batch.count === 0) continue;
        const input = new ort.Tensor('float32', batch.x, [batch.count, c, h, w]);
        const result = await session.run({...weightFeeds, [INPUT_NAME]: input});
        const logits = result[OUTPUT_NAME];
        if (!(logits.data instanceof Float32Array)) throw new Error('internal: evaluation logits are not float32');
        topk.add(logits.data, batch.y);
        logits.dispose();
      }
      return topk.accuracy();
    },
    cfs: () => cfsOf(layers.map((l) => ({weights: tensorOf(l.weightKey), scale: l.scale, levels: l.levels}))),
    lambdaMean() {
      if (constrainedWeights === 0) return 0;
      let s = 0;
      for (const l of layers) for (const v of l.lambda.lambda) s += v;
      return s / constrainedWeights;
    },
    histograms(): LevelHistogram[] {
      return layers.map((l) => ({layer: l.name, scale: l.scale, levels: l.levels, ...levelCounts(tensorOf(l.weightKey), l.scale, l.levels)}));
    },
    state() {
      // Views, not copies (Engine.state): a ResNet-18 checkpoint is written straight from these arrays.
      const view = (data: Float32Array, shape: readonly number[]): Tensor32 => ({shape, data});
      const shapeOf = (key: string): readonly number[] => infos.find((i) => i.key === key)?.shape ?? [];
      return engineState(
        weightsNow(),
        trainable.flatMap((i) => {
          const m = momentum.get(i.key);
          return m !== undefined ? [[i.key, view(m, i.shape)] as const] : [];
        }),
        layers.map((l) => {
          const shape = shapeOf(l.weightKey);
          return [l.name, {lambda: view(l.lambda.lambda, shape), m: view(l.lambda.m, shape), v: view(l.lambda.v, shape)}] as const;
        }),
      );
    },
    async close() {
      await evalSession?.opened.session.release();
      await pool?.close();
      await session.release();
    },
  };
}

/** Constrained weights from which the update runs on two threads (measured: ResNet-18's 11 M; LeNet-5's 0.4 M is not worth a thread). */
const THREADS_MIN_WEIGHTS = 1 << 20;

/** Starts the update thread on the constrained layers' arrays, which are already in shared memory. */
function startThreads(layers: ConstrainedLayer[], tensors: Map<string, Float32Array>, momentum: Map<string, Float32Array>): UpdateThreads {
  const get = (map: Map<string, Float32Array>, key: string): Float32Array => {
    const a = map.get(key);
    if (a === undefined) throw new Error(`internal: no tensor ${key}`);
    return a;
  };
  return UpdateThreads.start(layers.map((l) => ({w: get(tensors, l.weightKey), momentum: get(momentum, l.weightKey), lambda: l.lambda.lambda, quantized: l.quantized, scale: l.scale, levels: l.levels})));
}

function bnMomentumOf(spec: ModelSpec, bn: string): number {
  const node = spec.nodes.find((x) => x.name === bn);
  return node?.kind === 'batchnorm' ? node.momentum : 0.1;
}

