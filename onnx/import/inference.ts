import {ModelProto, type ModelMsg} from '../schema';

/**
 * The file as it runs at inference, for checking the import against it: a training-mode export
 * (torch.onnx.export(..., training=TrainingMode.TRAINING)) normalises by batch statistics and drops values at
 * random, which cbp's imported model does only while training. Its BatchNormalization nodes are set to inference
 * (training_mode 0 and its statistics outputs dropped) and its Dropout nodes lose their training_mode
 * input. Undefined when no node is in training mode: the file runs as it is.
 */
export function inferenceCopy(bytes: Uint8Array): Uint8Array | undefined {
  // The importer has read the whole file already (onnx/reader.ts bounds it): this decode cannot surprise.
  const model = ModelProto.toObject(ModelProto.decode(bytes), {longs: Number, bytes: Uint8Array, defaults: false, arrays: true}) as ModelMsg;
  let changed = false;
  for (const node of model.graph.node) {
    // Opset 14+ says training_mode 1; earlier opsets say it by the statistics outputs.
    if (node.op_type === 'BatchNormalization' && (node.output.length > 1 || node.attribute.some((a) => a.name === 'training_mode' && a.i === 1))) {
      node.attribute = node.attribute.filter((a) => a.name !== 'training_mode');
      node.output = node.output.slice(0, 1);
      changed = true;
    } else if (node.op_type === 'Dropout' && node.input.length > 2 && node.input[2] !== '') {
      node.input = node.input.slice(0, 2);
      changed = true;
    }
  }
  return changed ? ModelProto.encode(ModelProto.fromObject(model)).finish() : undefined;
}
