import {CbpError} from '../core/errors';
import {sizeOf, type Tensor32} from '../core/weights';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each name to
 * {dtype, shape, data_offsets} (plus an optional string map `__metadata__`), then the raw little-endian bytes.
 * We write and read F32 only, which is all cbp stores.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, Tensor32>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {__metadata__: metadata};
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name) as Tensor32;
    if (t.data.length !== sizeOf(t.shape)) throw new CbpError(`tensor '${name}': ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    header[name] = {dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength]};
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const name of names) {
    const t = tensors.get(name) as Tensor32;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export interface Safetensors {
  readonly tensors: Map<string, Tensor32>;
  readonly metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

export function decodeSafetensors(bytes: Uint8Array, file: string): Safetensors {
  const fail = (why: string): never => {
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
    fail(`header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + hl;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, Tensor32>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
        fail(`'__metadata__' must map names to strings`);
      }
      metadata = {...(entry as Record<string, string>)};
      continue;
    }
    const e = entry as {dtype?: unknown; shape?: unknown; data_offsets?: unknown};
    if (typeof e !== 'object' || e === null) fail(`entry '${name}' is not an object`);
    if (e.dtype !== 'F32') fail(`tensor '${name}' has dtype ${JSON.stringify(e.dtype)}, expected "F32"`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.length > 64 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor '${name}' has shape ${JSON.stringify(shape)?.slice(0, 80)}, expected at most 64 non-negative integers`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor '${name}' has invalid data_offsets`);
    const [begin, end] = offs as [number, number];
    const count = sizeOf(shape as number[]);
    if (!Number.isSafeInteger(count) || count > dataLen) fail(`tensor '${name}' claims ${count} values, more than the ${dataLen} data bytes hold`);
    if (end < begin || end > dataLen || end - begin !== count * 4) {
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] do not hold ${count} float32 values within ${dataLen} data bytes`);
    }
    // Copy so the tensor is aligned and independent of the file buffer.
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, {shape: shape as number[], data});
  }
  return {tensors, metadata};
}
