import {CbpError, errorMessage} from '../core/errors';
import {sizeOf, type Tensor32} from '../core/weights';
import {quoted} from '../core/shown';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each name to
 * {dtype, shape, data_offsets} (plus an optional string map `__metadata__`), then the raw little-endian bytes.
 * We write and read F32 only, which is all cbp stores.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, Tensor32>, metadata: Record<string, string> = {}): Uint8Array {
  const parts = safetensorsParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * The same file as pieces to write one after the other: the length and header, then a view of each tensor's bytes
 * (no copy: a checkpoint is written from the engine's arrays as they are).
 */
export function safetensorsParts(tensors: ReadonlyMap<string, Tensor32>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {__metadata__: metadata};
  let offset = 0;
  const sorted = [...tensors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, t] of sorted) {
    if (t.data.length !== sizeOf(t.shape)) throw new CbpError(`tensor ${quoted(name)}: ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    header[name] = {dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength]};
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const head = Buffer.from(json, 'utf8');
  const start = new Uint8Array(8 + head.length);
  new DataView(start.buffer).setBigUint64(0, BigInt(head.length), true);
  start.set(head, 8);
  return [start, ...sorted.map(([, t]) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return isObject(v) && !Array.isArray(v) && Object.values(v).every((s) => typeof s === 'string');
}

/** Whether `v` is a list of non-negative integers (a shape or a pair of offsets). */
function isCounts(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
}

export interface Safetensors {
  readonly tensors: Map<string, Tensor32>;
  readonly metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

export function decodeSafetensors(bytes: Uint8Array, file: string): Safetensors {
  // Typed on the name so that a call narrows like a throw (`if (!ok) fail(…)`).
  const fail: (why: string) => never = (why) => {
    throw new CbpError(`${file}: not a valid safetensors file: ${why}`, 'BAD_SAFETENSORS');
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) fail(`header length ${headerLen} exceeds the file (${bytes.length} bytes)`);
  const hl = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, hl).toString('utf8'));
  } catch (e) {
    fail(`header is not JSON (${errorMessage(e)})`);
  }
  if (!isObject(header) || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + hl;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, Tensor32>();
  let metadata: Record<string, string> = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isStringMap(e)) fail(`'__metadata__' must map names to strings`);
      metadata = {...e};
      continue;
    }
    if (!isObject(e)) fail(`entry ${quoted(name)} is not an object`);
    if (e.dtype !== 'F32') fail(`tensor ${quoted(name)} has dtype ${JSON.stringify(e.dtype)}, expected "F32"`);
    const shape = e.shape;
    if (!isCounts(shape) || shape.length > 64) fail(`tensor ${quoted(name)} has shape ${JSON.stringify(shape)?.slice(0, 80)}, expected at most 64 non-negative integers`);
    const offs = e.data_offsets;
    if (!isCounts(offs) || offs.length !== 2) fail(`tensor ${quoted(name)} has invalid data_offsets`);
    const [begin, end] = offs;
    const count = sizeOf(shape);
    if (!Number.isSafeInteger(count) || count > dataLen) fail(`tensor ${quoted(name)} claims ${count} values, more than the ${dataLen} data bytes hold`);
    if (end < begin || end > dataLen || end - begin !== count * 4) {
      fail(`tensor ${quoted(name)}: data_offsets [${begin}, ${end}] do not hold ${count} float32 values within ${dataLen} data bytes`);
    }
    // Copy so the tensor is aligned and independent of the file buffer.
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, {shape, data});
  }
  return {tensors, metadata};
}
