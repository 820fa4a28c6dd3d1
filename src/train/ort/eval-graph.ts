import {DataType} from '../../../onnx/schema';
import {GraphBuilder, attribute, valueInfo} from '../../../onnx/graph-builder';
import {PLAIN_STORAGE} from '../../../onnx/codes';
import {INPUT_NAME, OUTPUT_NAME} from '../../../onnx/writer';
import {INPUT, kindOf, paramInfos, valueShapes, type ModelSpec, type QuantOrNone} from '../../../models/spec';
import type {InferenceGraph} from '../../../models/kinds/index';
import {convolution} from './train-graph';

/** The evaluation graph: the exported model's graph with every parameter a graph input, and those inputs. */
export interface EvalGraph {
  readonly bytes: Uint8Array;
  readonly params: readonly {readonly key: string; readonly shape: readonly number[]; readonly constrained: boolean}[];
}

/**
 * The model as `cbp export --weights float` writes it, but with its weights and statistics as inputs instead of
 * initializers: the ONNX Runtime engine opens it once per run and feeds each epoch's weights (storedValues,
 * src/cbp/codes.ts, for the constrained layers), where a fresh export and session per epoch cost more than a small run's evaluation.
 * With an NCHWc block size, convolutions run on the blocked kernels as in the training graph (ONNX Runtime picks
 * them itself only for constant filters): ResNet-18's evaluation at batch 32 took 3.5× as long without.
 */
export function writeEvalGraph(spec: ModelSpec, quant: QuantOrNone, nchwcBlock?: number): EvalGraph {
  const ops = new GraphBuilder();
  const conv = convolution(ops, nchwcBlock);
  const infos = new Map(paramInfos(spec, quant).map((i) => [i.key, i]));
  const params: {key: string; shape: readonly number[]; constrained: boolean}[] = [];
  const declare = (key: string, constrained: boolean): string => {
    const info = infos.get(key);
    if (info === undefined) throw new Error(`internal: ${spec.name} has no parameter ${key}`);
    params.push({key, shape: info.shape, constrained});
    return key;
  };
  const value = (name: string): string => (name === INPUT ? INPUT_NAME : name === spec.output ? OUTPUT_NAME : name);
  const shapes = valueShapes(spec);
  const graph: InferenceGraph = {
    ops,
    opset: PLAIN_STORAGE.opset,
    value,
    shape: (name) => shapes.get(name) ?? [],
    emit: (node, type, inputs, attrs = {}) => {
      const filter = type === 'Conv' ? infos.get(`${node.name}.weight`)?.shape : undefined;
      if (filter !== undefined) {
        // [Cout, Cin/groups, kh, kw]; a grouped or dilated convolution stays a plain Conv (convolution's rule).
        conv(inputs, filter[1] * Number(attrs.group ?? 1), filter[0], attrs, value(node.name));
        return;
      }
      ops.nodes.push({name: node.name, op_type: type, input: [...inputs], output: [value(node.name)], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v))});
    },
    weight: (node) => declare(`${node.name}.weight`, node.constrained && quant !== 'none'),
    param: (key) => declare(key, false),
    // The float export's graph: every product on float weights.
    packedDense: () => false,
  };
  for (const node of spec.nodes) kindOf(node).onnx(node, graph);
  const [c, h, w] = spec.inputShape;
  const inputs = [valueInfo(INPUT_NAME, DataType.FLOAT, [c, h, w], 'batch'), ...params.map((p) => valueInfo(p.key, DataType.FLOAT, p.shape))];
  const bytes = ops.model(`${spec.name}_eval`, inputs, [valueInfo(OUTPUT_NAME, DataType.FLOAT, [spec.numClasses], 'batch')], PLAIN_STORAGE.opset, PLAIN_STORAGE.irVersion);
  return {bytes, params};
}
