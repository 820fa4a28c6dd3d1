import * as fs from 'node:fs';

/**
 * ModelProto's fields and their wire types (0 varint, 2 length-delimited), from onnx.proto: ir_version, producer_name,
 * producer_version, domain, model_version, doc_string, graph, opset_import, metadata_props, training_info, functions,
 * configuration. Other field numbers are allowed (a newer ONNX may add some) if their wire type is a valid one.
 */
const MODEL_FIELDS: Readonly<Record<number, 0 | 2>> = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2};
const GRAPH = 7;
const METADATA = 14;
/** A real model has a few dozen top-level fields (opsets, metadata); a file needing more is no model. */
const MAX_FIELDS = 100_000;
/** Metadata values cbp reads here (model, constraint, weights) are short; longer ones (layers, labels) are skipped. */
const MAX_VALUE = 4096;

/** What the top level of a protobuf says about an ONNX model: null when the bytes are not a ModelProto. */
export interface OnnxTop {
  /** Metadata entries whose key starts with `cbp.` (values up to MAX_VALUE bytes; longer ones as ''). */
  readonly cbp: ReadonlyMap<string, string>;
}

/** Reads `length` bytes at `pos` of an open file (fewer at its end). */
function readAt(fd: number, pos: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = fs.readSync(fd, buf, 0, length, pos);
  return buf.subarray(0, n);
}

/** A varint at `at` of `buf`: its value (exact up to 2^53) and the position after it, or undefined. */
function varint(buf: Uint8Array, at: number): {value: number; end: number} | undefined {
  let value = 0;
  for (let i = 0; i < 10 && at + i < buf.length; i++) {
    const b = buf[at + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return {value, end: at + i + 1};
  }
  return undefined;
}

/** A metadata entry's key and value (StringStringEntryProto: key = 1, value = 2). */
function entry(bytes: Uint8Array): {key: string; value: string} {
  let key = '';
  let value = '';
  let at = 0;
  while (at < bytes.length) {
    const tag = varint(bytes, at);
    if (tag === undefined || (tag.value & 7) !== 2) break;
    const len = varint(bytes, tag.end);
    if (len === undefined || len.end + len.value > bytes.length) break;
    const text = Buffer.from(bytes.subarray(len.end, len.end + len.value)).toString('utf8');
    if (tag.value >> 3 === 1) key = text;
    else if (tag.value >> 3 === 2) value = text;
    at = len.end + len.value;
  }
  return {key, value};
}

/**
 * Walks the top-level fields of the file open as `fd` (of `size` bytes) as an ONNX ModelProto, reading only tags and
 * lengths (the graph is skipped, not read): the file is a model when every field is well formed, the last one ends
 * exactly at the end of the file, and a graph is among them. Cheap on any file: text fails at its first bytes.
 */
export function onnxTop(fd: number, size: number): OnnxTop | null {
  const cbp = new Map<string, string>();
  let pos = 0;
  let graph = false;
  for (let fields = 0; pos < size; fields++) {
    if (fields >= MAX_FIELDS) return null;
    const head = readAt(fd, pos, 20);
    const tag = varint(head, 0);
    if (tag === undefined) return null;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value & 7;
    const expected = MODEL_FIELDS[field];
    if (field === 0 || (expected !== undefined && wire !== expected)) return null;
    if (wire === 0) {
      const v = varint(head, tag.end);
      if (v === undefined) return null;
      pos += v.end;
    } else if (wire === 1 || wire === 5) {
      pos += tag.end + (wire === 1 ? 8 : 4);
    } else if (wire === 2) {
      const len = varint(head, tag.end);
      if (len === undefined || pos + len.end + len.value > size) return null;
      if (field === GRAPH) graph = true;
      if (field === METADATA && len.value <= MAX_VALUE + 64) {
        const e = entry(readAt(fd, pos + len.end, len.value));
        if (e.key.startsWith('cbp.')) cbp.set(e.key, e.value);
      } else if (field === METADATA) {
        // A long value (cbp.layers of a deep network): its key comes first and is all that is needed.
        const e = entry(readAt(fd, pos + len.end, 64));
        if (e.key.startsWith('cbp.')) cbp.set(e.key, '');
      }
      pos += len.end + len.value;
    } else {
      // Groups (3, 4) are not used by ONNX; 6 and 7 are no wire type.
      return null;
    }
  }
  return pos === size && graph ? {cbp} : null;
}
