import {readBytes} from '../src/core/read';
import {CbpError, errorMessage} from '../src/core/errors';
import {ModelProto, type ModelMsg} from './schema';
import {scanOnnx} from './scan';
import {checkTensor} from './tensor-check';

/** Decodes an ONNX file into plain objects (int64 as numbers, bytes as Uint8Array). */
export function readOnnx(file: string): {model: ModelMsg; bytes: Uint8Array} {
  const bytes = readBytes(file);
  return {model: decodeOnnx(bytes, file), bytes};
}

/**
 * Decodes ONNX bytes after a scan of their structure (counts, nesting, no external data) and checks every
 * initializer's dims against its data, so nothing downstream allocates from a size the file lies about.
 */
export function decodeOnnx(bytes: Uint8Array, file: string): ModelMsg {
  scanOnnx(bytes, file);
  let model: ModelMsg;
  try {
    const msg = ModelProto.decode(bytes);
    // protobufjs types toObject as a loose record; ModelMsg mirrors the schema it decoded, and a missing graph is checked below.
    model = ModelProto.toObject(msg, {longs: Number, bytes: Uint8Array, defaults: true, arrays: true}) as ModelMsg;
  } catch (err) {
    throw new CbpError(`${file}: not an ONNX model (${errorMessage(err)})`, 'BAD_ONNX');
  }
  if (!model.graph || model.graph.node.length === 0) throw new CbpError(`${file}: not an ONNX model (no graph nodes)`, 'BAD_ONNX');
  for (const t of model.graph.initializer) checkTensor(t, file);
  return model;
}

export function metadataOf(model: ModelMsg): Record<string, string> {
  return Object.fromEntries(model.metadata_props.map((p) => [p.key, p.value]));
}
