import {CbpError} from '../src/core/errors';

/** The most nodes and tensors an ONNX file may hold: ResNet-50 as cbp writes it has about 600 of each. */
export const MAX_NODES = 100_000;
export const MAX_TENSORS = 100_000;
/**
 * The most bytes of values a file may keep outside raw_data (a tensor's float_data, int32_data, int64_data,
 * string_data, double_data, uint64_data; an attribute's floats, ints, strings): decoded, each becomes a JavaScript
 * number or string, many times its size on the wire. Exporters keep weights in raw_data.
 */
export const MAX_TYPED_BYTES = 64 * 2 ** 20;
/** Subgraphs (Loop, If bodies) nested deeper than this are refused. */
export const MAX_GRAPH_DEPTH = 32;

type Kind = 'model' | 'graph' | 'node' | 'attribute' | 'tensor' | 'sparse' | 'function';

/** For each message kind, which length-delimited fields hold which kind of message (onnx/onnx.proto). */
const CHILDREN: Record<Kind, Readonly<Record<number, Kind>>> = {
  model: {7: 'graph', 25: 'function'},
  graph: {1: 'node', 5: 'tensor', 15: 'sparse'},
  node: {5: 'attribute'},
  attribute: {5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse'},
  tensor: {},
  sparse: {1: 'tensor', 2: 'tensor'},
  function: {7: 'node'},
};

/** Per message kind, the repeated fields of numbers or strings that protobufjs decodes one JavaScript value each. */
const TYPED: Partial<Record<Kind, ReadonlySet<number>>> = {tensor: new Set([4, 5, 6, 7, 10, 11]), attribute: new Set([7, 8, 9])};

/**
 * Walks the protobuf wire format of an ONNX file before it is decoded or given to ONNX Runtime, without
 * allocating anything per field: counts nodes and tensors (millions of empty nodes would cost gigabytes once
 * decoded), bounds subgraph nesting, and refuses tensors stored as external data (ONNX Runtime would open files
 * the model names, relative to the current folder; cbp never writes external data). Iterative: no nesting can
 * overflow the stack.
 */
export function scanOnnx(buf: Uint8Array, file: string): {nodes: number; tensors: number} {
  const fail = (at: number, why: string, code: 'BAD_ONNX' | 'OVER_BUDGET' = 'BAD_ONNX'): never => {
    throw new CbpError(`${file}: ${why} (at byte ${at})`, code);
  };
  let nodes = 0;
  let tensors = 0;
  let typed = 0;
  const stack: {kind: Kind; end: number; graphs: number}[] = [{kind: 'model', end: buf.length, graphs: 0}];
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) fail(pos, 'truncated varint');
      const b = buf[pos++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return v;
    }
    return fail(pos, 'varint longer than 10 bytes');
  };
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (pos >= top.end) {
      if (pos > top.end) fail(pos, `a ${top.kind} message runs past its end`);
      stack.pop();
      continue;
    }
    const key = varint();
    const fieldNo = Math.floor(key / 8);
    const wire = key % 8;
    const at = pos;
    if (top.kind === 'tensor' && fieldNo === 14 && wire === 0 && varint() === 1) fail(pos, 'a tensor stored as external data (cbp reads only self-contained models)');
    else if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      const start = pos;
      if (len > top.end - start) fail(start, `a field of ${len} bytes runs past its ${top.kind} message`);
      pos = start + len;
      if (top.kind === 'tensor' && fieldNo === 13) fail(start, 'a tensor stored as external data (cbp reads only self-contained models)');
      const child = CHILDREN[top.kind][fieldNo];
      if (child !== undefined) {
        if (child === 'node' && ++nodes > MAX_NODES) fail(start, `more than ${MAX_NODES} nodes`, 'OVER_BUDGET');
        if (child === 'tensor' && ++tensors > MAX_TENSORS) fail(start, `more than ${MAX_TENSORS} tensors`, 'OVER_BUDGET');
        const graphs = top.graphs + (child === 'graph' ? 1 : 0);
        if (graphs > MAX_GRAPH_DEPTH) fail(start, `subgraphs nested deeper than ${MAX_GRAPH_DEPTH}`);
        stack.push({kind: child, end: pos, graphs});
        pos = start;
      }
    } else fail(pos, `wire type ${wire} (groups are not used by ONNX)`);
    if (pos > top.end) fail(pos, `a ${top.kind} message runs past its end`);
    if (TYPED[top.kind]?.has(fieldNo) === true && (typed += pos - at) > MAX_TYPED_BYTES) {
      fail(at, `more than ${MAX_TYPED_BYTES / 2 ** 20} MiB of values outside raw_data (float_data, int64_data, an attribute's ints, …); cbp reads tensors' values from raw_data`, 'OVER_BUDGET');
    }
  }
  return {nodes, tensors};
}
