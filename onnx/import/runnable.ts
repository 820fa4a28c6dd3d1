import {ModelProto, type ModelMsg} from '../schema';

/**
 * The part of the file cbp imported, as it runs at inference, for checking the import against it in ONNX Runtime:
 * - only the nodes the output needs (`keep`, indices into the graph's nodes), the initializers they read and the
 *   image input: a node the importer never looked at (an endless Loop, a huge Expand beside the network) is not
 *   run, and what runs is what cbp read (fields cbp's schema does not decode, sparse initializers and functions
 *   among them, are not written back);
 * - a training-mode export (torch.onnx.export(..., training=TrainingMode.TRAINING)) normalises by batch statistics
 *   and drops values at random, which cbp's imported model does only while training: its BatchNormalization nodes
 *   are set to inference (training_mode 0 and its statistics outputs dropped) and its Dropout nodes lose their
 *   training_mode input.
 */
export function runnableCopy(bytes: Uint8Array, keep: ReadonlySet<number>, input: string): Uint8Array {
  // The importer has read the whole file already (onnx/reader.ts bounds it): this decode cannot surprise.
  const model = ModelProto.toObject(ModelProto.decode(bytes), {longs: Number, bytes: Uint8Array, defaults: false, arrays: true}) as ModelMsg;
  const graph = model.graph;
  graph.node = graph.node.filter((_, i) => keep.has(i));
  const read = new Set(graph.node.flatMap((n) => n.input));
  graph.initializer = graph.initializer.filter((t) => read.has(t.name));
  graph.input = graph.input.filter((v) => v.name === input || read.has(v.name));
  for (const node of graph.node) {
    // Opset 14+ says training_mode 1; earlier opsets say it by the statistics outputs.
    if (node.op_type === 'BatchNormalization' && (node.output.length > 1 || node.attribute.some((a) => a.name === 'training_mode' && a.i === 1))) {
      node.attribute = node.attribute.filter((a) => a.name !== 'training_mode');
      node.output = node.output.slice(0, 1);
    } else if (node.op_type === 'Dropout' && node.input.length > 2 && node.input[2] !== '') {
      node.input = node.input.slice(0, 2);
    }
  }
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
