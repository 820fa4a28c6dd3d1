import type {EngineEntry} from '../engine';

/**
 * The ONNX Runtime engine: a hand-built forward+backward ONNX graph run in an inference session (train-graph.ts).
 * It owns `--device` (an execution provider) and runs every node kind.
 */
export const ortEntry: EngineEntry<'onnxruntime'> = {
  name: 'onnxruntime',
  owns: [
    {
      given: (s) => (s.device === 'auto' ? undefined : s.device),
      why: (v) => `--device ${v} is an ONNX Runtime execution provider`,
      refusal: (v, e) => `--device ${v}: an execution provider of the ONNX Runtime engine, but --engine is ${e}; use --engine onnxruntime or leave --device out`,
    },
  ],
  // Every node kind has its training graph (models/kinds/kind.ts requires one).
  supports: () => undefined,
  create: async (common, s) => (await import('./engine')).createOrtEngine({...common, device: s.device, log: s.log}),
};
