import * as ort from 'onnxruntime-node';
import {CbpError} from '../../core/errors';
import {TopK} from '../../core/topk';
import {dropoutMask} from '../../core/rng';
import {sizeOf, type Tensor32} from '../../core/weights';
import {cpuWillRun, openSession, type DeviceChoice, type OpenSession} from '../../core/ort';
import {MIN_NCHWC_BLOCK, nchwcBlockSize} from './nchwc';
import {LEVELS} from '../../cbp/levels';
import {CbpState} from '../../cbp/state';
import {constrainedNodes, paramInfos, type ModelSpec, type ParamInfo} from '../../../models/spec';
import {STATE_KEYS} from '../state-keys';
import {INPUT_NAME, OUTPUT_NAME} from '../../../onnx/writer';
import {writeEvalGraph, type EvalGraph} from './eval-graph';
import {storedValues} from '../../cbp/codes';
import {writeTrainGraph} from './train-graph';
import {cbpEngine, type Engine, type EngineOptions, type GradientEngine} from '../engine';
import {updateRunningStats} from '../running-stats';
import {EVAL_BATCH} from '../../data/source';

export interface OrtEngineOptions extends EngineOptions {
  readonly device: DeviceChoice;
  /**
   * Threads of the update pass between two runs: 2 splits every constrained layer with a worker thread
   * (src/cbp/update-threads.ts). Default: 2 from THREADS_MIN_WEIGHTS constrained weights on a machine with two cores
   * or more (src/cbp/state.ts).
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

/**
 * The ONNX Runtime engine: the whole forward and backward pass is one ONNX graph written from the ModelSpec
 * (src/train/ort/train-graph.ts) and run by onnxruntime-node's inference build, fed the quantized weights of the CBP
 * state (src/cbp/state.ts), which keeps the weights, momentum and multipliers as arrays in PyTorch's layout and
 * does the update from the gradients the graph returns. The engine keeps the running statistics.
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
  // Every tensor of the model (latent weights, biases, batch norm, running statistics, scales), PyTorch layout; the
  // trainable ones are the CBP state's (src/cbp/state.ts), the others (running statistics, scales) the engine's.
  for (const info of infos) {
    if (!o.weights.has(info.key)) throw new CbpError(`weights for model ${spec.name}: no '${info.key}'`, 'KEY_MISMATCH');
  }
  const given = (info: ParamInfo): Float32Array => {
    const t = o.weights.get(info.key);
    if (t === undefined) throw new CbpError(`weights for model ${spec.name}: no '${info.key}'`, 'KEY_MISMATCH');
    if (t.shape.join(',') !== info.shape.join(',')) throw new CbpError(`weights for model ${spec.name}: '${info.key}' has shape [${t.shape.join(', ')}], expected [${info.shape.join(', ')}]`, 'SHAPE_MISMATCH');
    return t.data;
  };
  // Copies: the running statistics are updated in place.
  const kept = new Map<string, Float32Array>(infos.filter((i) => !i.trainable).map((i) => [i.key, Float32Array.from(given(i))]));
  const cbp = CbpState.create({
    trainable: infos.filter((i) => i.trainable).map((i) => ({key: i.key, shape: i.shape, value: given(i), decay: i.role === 'weight'})),
    constrained: nodes.map((node) => {
      const scale = kept.get(`${node.name}.scale`)?.[0] ?? NaN;
      if (!(scale > 0) || !Number.isFinite(scale)) throw new CbpError(`weights for model ${spec.name}: scale of '${node.name}' is ${scale}, expected a positive number`);
      return {name: node.name, weightKey: `${node.name}.weight`, scale, levels: quant === 'none' ? [] : LEVELS[quant]};
    }),
    stored: o.stored,
    keys: STATE_KEYS,
    weightDecay: o.weightDecay,
    lrLambda: o.lrLambda,
    constraintTerm: o.constraintTerm,
    threads: o.updateThreads,
  });
  const tensors = new Map<string, Float32Array>(infos.map((i) => [i.key, kept.get(i.key) ?? cbp.latent(i.key)]));
  const [c, h, w] = spec.inputShape;
  const tensorOf = (key: string): Float32Array => {
    const t = tensors.get(key);
    if (t === undefined) throw new Error(`internal: no tensor ${key}`);
    return t;
  };

  const masks = graph.masks.map((m) => ({...m, perSampleCount: sizeOf(m.perSample)}));
  const gradients: GradientEngine['gradients'] = async (batch, seed) => {
    const n = batch.count;
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('float32', batch.x, [n, c, h, w]),
      labels: new ort.Tensor('int64', BigInt64Array.from(batch.y, (v) => BigInt(v)), [n]),
    };
    // The quantized weights of the constrained layers (written by the last update), the latent ones of the others.
    for (const p of graph.params) feeds[p.key] = new ort.Tensor('float32', cbp.fed(p.key), [...p.shape]);
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
    return {
      loss,
      weighted: loss,
      grad: (key) => floats(`grad.${key}`),
      keepStatistics() {
        for (const bn of graph.batchNorms) updateRunningStats(tensorOf(`${bn.name}.running_mean`), tensorOf(`${bn.name}.running_var`), floats(`mean.${bn.name}`), floats(`var.${bn.name}`), bnMomentumOf(spec, bn.name), n * bn.perSample);
      },
      release() {
        for (const t of Object.values(out)) t.dispose();
      },
    };
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

  const engine: GradientEngine = {
    backend: `onnxruntime-${opened.device}`,
    layout: 'NCHW',
    gradients,
    async evaluate() {
      // The model as cbp exports it (quantized weights as float32, running statistics), in the same runtime: its
      // graph is opened once (eval-graph.ts) and fed the weights of the moment.
      evalSession ??= await openEvalSession();
      const {session} = evalSession.opened;
      const weightFeeds: Record<string, ort.Tensor> = {};
      for (const p of evalSession.graph.params) {
        const layer = p.constrained ? cbp.layers.find((l) => l.weightKey === p.key) : undefined;
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
    ownTensors() {
      // Views, not copies (Engine.state): a ResNet-18 checkpoint is written straight from these arrays.
      const shapeOf = (key: string): readonly number[] => infos.find((i) => i.key === key)?.shape ?? [];
      return new Map<string, Tensor32>([...kept].map(([key, data]) => [key, {shape: shapeOf(key), data}] as const));
    },
    async close() {
      await evalSession?.opened.session.release();
      await session.release();
    },
  };
  return cbpEngine(engine, cbp);
}

function bnMomentumOf(spec: ModelSpec, bn: string): number {
  const node = spec.nodes.find((x) => x.name === bn);
  return node?.kind === 'batchnorm' ? node.momentum : 0.1;
}

