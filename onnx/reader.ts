import {readBytes} from '../src/core/read';
import {CbpError, errorMessage} from '../src/core/errors';
import {ModelProto, type ModelMsg} from './schema';
import {scanOnnx} from './scan';
import {checkTensor} from './tensor-check';
import {quoted} from '../src/core/shown';

/** The largest ONNX file cbp reads: protobuf's own limit for one message (larger models keep external data). */
export const MAX_ONNX_BYTES = 2 ** 31;

/** An ONNX file's bytes, refused by its size before it is read. */
export function readOnnxBytes(file: string): Buffer {
  return readBytes(file, MAX_ONNX_BYTES);
}

/** Decodes an ONNX file into plain objects (int64 as numbers, bytes as Uint8Array). */
export function readOnnx(file: string): {model: ModelMsg; bytes: Uint8Array} {
  const bytes = readOnnxBytes(file);
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
  // int64 fields arrive as numbers: one past 2^53 is no longer the integer the file holds. A newer IR version than
  // ONNX Runtime knows is left to it (cbp eval says the runtime is too old); the importer reads a range (graph.ts).
  const ir = model.ir_version;
  if (!Number.isSafeInteger(ir) || ir < 1) throw new CbpError(`${file}: ir_version ${Number.isSafeInteger(ir) ? ir : 'past 2^53'}, expected a positive integer`, 'BAD_ONNX');
  for (const o of model.opset_import) {
    if (!Number.isSafeInteger(o.version) || o.version < 1) throw new CbpError(`${file}: opset import of ${quoted(o.domain || 'ai.onnx')} has version ${Number.isSafeInteger(o.version) ? o.version : 'past 2^53'}, expected a positive integer`, 'BAD_ONNX');
  }
  for (const t of model.graph.initializer) checkTensor(t, file);
  return model;
}

export function metadataOf(model: ModelMsg): Record<string, string> {
  return Object.fromEntries(model.metadata_props.map((p) => [p.key, p.value]));
}
