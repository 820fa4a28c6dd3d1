import * as fs from 'node:fs';
import {ModelProto} from '../../onnx/schema';
import {Rng} from '../../src/core/rng';

/**
 * Hostile and unusual ONNX files for `cbp import`, one per class of failure: work the importer never looked at,
 * sizes only ONNX Runtime would have checked, names that would echo the file, disagreeing copies, refusals that
 * stop early, non-finite weights. Each is a small classifier (8×8 grey images, two convolutions, a dense layer)
 * changed in one way, built here so the suite needs no fixture files.
 */

type Dim = number | string;
type Obj = Record<string, unknown>;
export interface Graph {
  name: string;
  node: Obj[];
  initializer: Obj[];
  input: Obj[];
  output: Obj[];
}
export interface Model {
  ir_version: number;
  opset_import: {domain: string; version: number}[];
  graph: Graph;
}

export const valueInfo = (name: string, elem: number, dims: readonly Dim[]): Obj => ({
  name,
  type: {tensor_type: {elem_type: elem, shape: {dim: dims.map((d) => (typeof d === 'string' ? {dim_param: d} : {dim_value: d}))}}},
});

const rng = new Rng(77);
export const floats = (name: string, dims: readonly number[], fill?: (i: number) => number): Obj => {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({length: n}, (_, i) => (fill ? fill(i) : rng.normal() * 0.1));
  return {name, dims: [...dims], data_type: 1, raw_data: new Uint8Array(data.buffer)};
};
export const ints = (name: string, values: readonly number[]): Obj => {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return {name, dims: [values.length], data_type: 7, raw_data: new Uint8Array(data.buffer)};
};

/** input [N, C, S, S] → conv1 (3×3, pad 1) → relu → conv2 → global average pool → flatten → fc (10 classes). */
export function classifier(opts: {batch?: Dim; channels?: number; side?: number} = {}): Model {
  const c = opts.channels ?? 1;
  const side = opts.side ?? 8;
  return {
    ir_version: 8,
    opset_import: [{domain: '', version: 13}],
    graph: {
      name: 'small',
      node: [
        {name: '/conv1/Conv', op_type: 'Conv', input: ['input', 'conv1.weight'], output: ['c1'], attribute: [{name: 'pads', type: 7, ints: [1, 1, 1, 1]}]},
        {name: '/relu/Relu', op_type: 'Relu', input: ['c1'], output: ['r1']},
        {name: '/conv2/Conv', op_type: 'Conv', input: ['r1', 'conv2.weight'], output: ['c2'], attribute: [{name: 'pads', type: 7, ints: [1, 1, 1, 1]}]},
        {name: '/pool/GlobalAveragePool', op_type: 'GlobalAveragePool', input: ['c2'], output: ['p']},
        {name: '/Flatten', op_type: 'Flatten', input: ['p'], output: ['f']},
        {name: '/fc/Gemm', op_type: 'Gemm', input: ['f', 'fc.weight', 'fc.bias'], output: ['logits'], attribute: [{name: 'transB', type: 2, i: 1}]},
      ],
      initializer: [floats('conv1.weight', [4, c, 3, 3]), floats('conv2.weight', [4, 4, 3, 3]), floats('fc.weight', [10, 4]), floats('fc.bias', [10])],
      input: [valueInfo('input', 1, [opts.batch ?? 'N', c, side, side])],
      output: [valueInfo('logits', 1, [opts.batch ?? 'N', 10])],
    },
  };
}

export const encode = (m: Model): Uint8Array => ModelProto.encode(ModelProto.fromObject(m)).finish();

export const node = (m: Model, name: string): Obj => {
  const found = m.graph.node.find((n) => n.name === name);
  if (found === undefined) throw new Error(`no node ${name}`);
  return found;
};

/** One length-delimited protobuf field, written by hand (for sizes protobufjs would take long to build). */
export function field(no: number, body: Uint8Array): Uint8Array {
  const len: number[] = [];
  for (let n = body.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      len.push(n);
      break;
    }
    len.push((n % 128) | 128);
  }
  return Buffer.concat([Buffer.of(no * 8 + 2), Buffer.from(len), body]);
}

/** Accepted (a valid file), or refused with this code and a message matching each pattern. */
export type Expect = {readonly accepted: true} | {readonly code: string; readonly re: RegExp | readonly RegExp[]};
export interface ImportCase {
  readonly name: string;
  /** Makes the file's bytes when the case runs (not before: cases stay out of each other's memory), or writes the file itself (a sparse file of gigabytes). */
  readonly bytes: (() => Uint8Array) | {readonly write: (file: string) => void};
  readonly expect: Expect;
}

/** The cases; the names of the classes they stand for are in each case's name. */
export function importCases(): ImportCase[] {
  const changed = (change: (m: Model) => void, opts?: Parameters<typeof classifier>[0]): (() => Uint8Array) => () => {
    const m = classifier(opts);
    change(m);
    return encode(m);
  };
  const endless = {
    name: 'body',
    node: [{op_type: 'Identity', input: ['c_in'], output: ['c_out']}, {op_type: 'Identity', input: ['v_in'], output: ['v_out']}],
    input: [valueInfo('i', 7, []), valueInfo('c_in', 9, []), valueInfo('v_in', 1, ['N', 1, 8, 8])],
    output: [valueInfo('c_out', 9, []), valueInfo('v_out', 1, ['N', 1, 8, 8])],
  };
  return [
    // Work the importer never looked at: never run.
    {name: 'dead branch: an endless Loop beside the network', expect: {accepted: true}, bytes: changed((m) => {
      m.graph.initializer.push({name: 'cond', dims: [], data_type: 9, raw_data: Uint8Array.of(1)});
      m.graph.node.push({name: '/spin/Loop', op_type: 'Loop', input: ['', 'cond', 'input'], output: ['spun'], attribute: [{name: 'body', type: 5, g: endless}]});
    })},
    {name: 'dead branch: an Expand to 2^40 values beside the network', expect: {accepted: true}, bytes: changed((m) => {
      m.graph.initializer.push(floats('one', [1], () => 1), ints('huge', [2 ** 20, 2 ** 20]));
      m.graph.node.push({name: '/big/Expand', op_type: 'Expand', input: ['one', 'huge'], output: ['big']});
    })},
    // Sizes cbp checks before ONNX Runtime allocates.
    {name: 'sizes: Conv pads of 2^20', expect: {code: 'UNSUPPORTED_ONNX', re: /Conv with a kernel, stride, dilation or padding outside 0 to 4096 \(1 node: \/conv2\/Conv\)/}, bytes: changed((m) => {
      node(m, '/conv2/Conv').attribute = [{name: 'pads', type: 7, ints: [2 ** 20, 2 ** 20, 2 ** 20, 2 ** 20]}];
    })},
    {name: 'sizes: Conv pads of 4000 (within the side limit, past the value budget)', expect: {code: 'OVER_BUDGET', re: /checking the import in ONNX Runtime would hold about [\d.]+ GiB of values \(batch 2 × \d+ values per image/}, bytes: changed((m) => {
      node(m, '/conv1/Conv').attribute = [{name: 'pads', type: 7, ints: [4000, 4000, 4000, 4000]}];
    })},
    {name: 'sizes: a Pad op of 2^30', expect: {code: 'UNSUPPORTED_ONNX', re: /Pad by more than 4096 \(1 node: \/pad\/Pad\)/}, bytes: changed((m) => {
      m.graph.initializer.push(ints('pads', [0, 0, 2 ** 30, 2 ** 30, 0, 0, 2 ** 30, 2 ** 30]));
      m.graph.node.unshift({name: '/pad/Pad', op_type: 'Pad', input: ['input', 'pads'], output: ['padded']});
      node(m, '/conv1/Conv').input = ['padded', 'conv1.weight'];
    })},
    {name: 'sizes: a fixed batch of 100,000', expect: {code: 'OVER_BUDGET', re: /batch 100000 × \d+ values per image/}, bytes: () => encode(classifier({batch: 100_000, side: 32}))},
    {name: 'sizes: a fixed batch of 2^40', expect: {code: 'OVER_BUDGET', re: /batch 1099511627776 × \d+ values per image/}, bytes: () => encode(classifier({batch: 2 ** 40}))},
    {name: 'sizes: a fixed batch past 2^53', expect: {code: 'UNSUPPORTED_ONNX', re: /input 'input' has a batch dimension of more than 2\^53/}, bytes: () => encode(classifier({batch: 2 ** 60}))},
    {name: 'sizes: a 64×4096×4096 input', expect: {code: 'OVER_BUDGET', re: /GiB of values \(batch 2 ×/}, bytes: () => encode(classifier({channels: 64, side: 4096}))},
    {name: 'sizes: a 2.9 GB file (sparse on disk)', expect: {code: 'OVER_BUDGET', re: /\d+ bytes, more than the 2147483648 bytes cbp reads/}, bytes: {write: (file) => {
      const fd = fs.openSync(file, 'w');
      fs.ftruncateSync(fd, 2.9e9);
      fs.closeSync(fd);
    }}},
    {name: 'sizes: 65 MiB of float_data', expect: {code: 'OVER_BUDGET', re: /more than 64 MiB of values outside raw_data/}, bytes: () => Buffer.concat([encode(classifier()), field(7, field(5, field(4, new Uint8Array(65 * 2 ** 20))))])},
    {name: 'sizes: a Reshape to [2^62, -1]', expect: {code: 'UNSUPPORTED_ONNX', re: /Reshape that does not keep the batch axis first \(1 node: \/Reshape\)/}, bytes: changed((m) => {
      m.graph.initializer.push(ints('to', [2 ** 62, -1]));
      node(m, '/Flatten').op_type = 'Reshape';
      node(m, '/Flatten').input = ['p', 'to'];
      node(m, '/Flatten').name = '/Reshape';
    })},
    // Names from the file: escaped and cut.
    {name: 'echo: a node named with 1 MiB', expect: {code: 'UNSUPPORTED_ONNX', re: /Erf \(1 node: x{60}… \(1048576 characters\)\)/}, bytes: changed((m) => {
      node(m, '/relu/Relu').op_type = 'Erf';
      node(m, '/relu/Relu').name = 'x'.repeat(2 ** 20);
    })},
    {name: 'echo: node and value names with terminal escapes', expect: {code: 'UNSUPPORTED_ONNX', re: /Erf \(1 node: \\x1b\[2J\\x1b\]0;owned\\x07\\x1b\[31mred\)/}, bytes: changed((m) => {
      node(m, '/relu/Relu').op_type = 'Erf';
      node(m, '/relu/Relu').name = '\x1b[2J\x1b]0;owned\x07\x1b[31mred';
    })},
    {name: 'echo: 10,000 kinds of unknown op', expect: {code: 'UNSUPPORTED_ONNX', re: /and \d+ more kinds of unsupported node/}, bytes: changed((m) => {
      let prev = 'r1';
      for (let i = 0; i < 10_000; i++) {
        m.graph.node.push({name: `/op${i}`, op_type: `Custom${i}`, input: [prev], output: [`o${i}`]});
        prev = `o${i}`;
      }
      node(m, '/conv2/Conv').input = [prev, 'conv2.weight'];
      // Kahn's order wants producers first; conv2 and what follows move to the end.
      const tail = m.graph.node.splice(2, 4);
      m.graph.node.push(...tail);
    })},
    // Disagreeing or out-of-range fields.
    {name: 'disagreeing: raw_data and float_data both', expect: {code: 'BAD_ONNX', re: /tensor 'fc\.bias' holds its values twice, in raw_data and in float_data/}, bytes: changed((m) => {
      Object.assign(m.graph.initializer.find((t) => t.name === 'fc.bias') ?? {}, {float_data: Array.from({length: 10}, () => 7)});
    })},
    {name: 'disagreeing: a float tensor holding int64_data', expect: {code: 'BAD_ONNX', re: /tensor 'fc\.bias' is of data type 1 but holds values in int64_data, not float_data/}, bytes: changed((m) => {
      const bias = m.graph.initializer.find((t) => t.name === 'fc.bias') ?? {};
      delete bias.raw_data;
      Object.assign(bias, {int64_data: Array.from({length: 10}, () => 7)});
    })},
    {name: 'out of range: ir_version 2^60', expect: {code: 'BAD_ONNX', re: /ir_version past 2\^53, expected a positive integer/}, bytes: () => encode({...classifier(), ir_version: 2 ** 60})},
    {name: 'out of range: ir_version 2^64 − 1 (int64 −1)', expect: {code: 'BAD_ONNX', re: /ir_version -1, expected a positive integer/}, bytes: () => {
      // protobufjs would round 2^64 − 1 from a number: the varint is written by hand in front of the rest.
      const rest = encode({...classifier(), ir_version: 0});
      return Buffer.concat([Buffer.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), rest]);
    }},
    {name: 'out of range: ir_version 99', expect: {code: 'UNSUPPORTED_ONNX', re: /ir_version 99; cbp imports IR versions 3 to 13/}, bytes: () => encode({...classifier(), ir_version: 99})},
    // One refusal lists everything, also what reads a refused value.
    {name: 'whole refusal: a model of transformer pieces', expect: {code: 'UNSUPPORTED_ONNX', re: [
      // Grouped by module, a recognised layer first, named by what it looks like (a Softmax beside a MatMul). The
      // token kinds map a Reshape to [N, 4, -1] and a Softmax over the last axis: here the Reshape merges the batch
      // ([-1, 64]) and the Softmax is over the batch (refused on its attributes, whatever its input).
      /unsupported: attention in attn: refused Softmax over the batch axis \(1 node: \/attn\/Softmax\); Reshape that does not keep the batch axis first \(1 node: \/embed\/Reshape\); not judged/,
      // Erf is claimed (GELU's pattern), LayerNormalization mapped: reading a refused value, they are not judged, as any mapped op.
      /not judged, as they read values of those nodes: MatMul ×2, LayerNormalization ×1, Transpose ×1, Erf ×1, Reshape ×1, Gemm ×1\. cbp maps /,
    ]}, bytes: changed((m) => {
      m.graph.initializer.push(ints('tokens', [-1, 64]), floats('wq', [64, 64]), floats('lnw', [64]), ints('flat', [0, -1]));
      const nodes = [
        {name: '/embed/Reshape', op_type: 'Reshape', input: ['c1', 'tokens'], output: ['t']},
        {name: '/q/MatMul', op_type: 'MatMul', input: ['t', 'wq'], output: ['q']},
        {name: '/norm/LayerNormalization', op_type: 'LayerNormalization', input: ['q', 'lnw'], output: ['n']},
        {name: '/attn/Transpose', op_type: 'Transpose', input: ['n'], output: ['nt'], attribute: [{name: 'perm', type: 7, ints: [0, 2, 1]}]},
        {name: '/attn/MatMul', op_type: 'MatMul', input: ['n', 'nt'], output: ['s']},
        {name: '/attn/Softmax', op_type: 'Softmax', input: ['s'], output: ['p'], attribute: [{name: 'axis', type: 2, i: 0}]},
        {name: '/mlp/Erf', op_type: 'Erf', input: ['p'], output: ['e']},
        {name: '/head/Reshape', op_type: 'Reshape', input: ['e', 'flat'], output: ['ef']},
        {name: '/head/Gemm', op_type: 'Gemm', input: ['ef', 'fc.weight', 'fc.bias'], output: ['logits'], attribute: [{name: 'transB', type: 2, i: 1}]},
      ];
      m.graph.node = [m.graph.node[0], ...nodes];
      m.graph.initializer = m.graph.initializer.filter((t) => t.name !== 'conv2.weight');
    })},
    {name: 'whole refusal: shapes a kind does not take and a MatMul of two computed values, both listed', expect: {code: 'UNSUPPORTED_ONNX', re: [
      /Add whose add .* \(1 node: \/odd\/Add\)/,
      /MatMul of two computed values \(1 node: \/mix\/MatMul\)/,
      /not judged, as they read values of those nodes: Add ×1, Gemm ×1\./,
    ]}, bytes: changed((m) => {
      m.graph.node.splice(5, 1,
        {name: '/odd/Add', op_type: 'Add', input: ['r1', 'f'], output: ['odd']},
        {name: '/mix/MatMul', op_type: 'MatMul', input: ['f', 'f'], output: ['mm']},
        {name: '/both/Add', op_type: 'Add', input: ['odd', 'mm'], output: ['both']},
        {name: '/fc/Gemm', op_type: 'Gemm', input: ['both', 'fc.weight', 'fc.bias'], output: ['logits'], attribute: [{name: 'transB', type: 2, i: 1}]},
      );
    })},
    // Non-finite weights are named.
    {name: 'non-finite: a NaN in a convolution weight', expect: {code: 'BAD_ONNX', re: /node '\/conv2\/Conv' \(Conv\) has weight 'conv2\.weight' holding NaN at element 5; cbp imports finite weights/}, bytes: changed((m) => {
      m.graph.initializer = m.graph.initializer.map((t) => (t.name === 'conv2.weight' ? floats('conv2.weight', [4, 4, 3, 3], (i) => (i === 5 ? NaN : 0.1)) : t));
    })},
    {name: 'non-finite: an infinite dense bias', expect: {code: 'BAD_ONNX', re: /has bias 'fc\.bias' holding Infinity at element 0/}, bytes: changed((m) => {
      m.graph.initializer = m.graph.initializer.map((t) => (t.name === 'fc.bias' ? floats('fc.bias', [10], (i) => (i === 0 ? Infinity : 0)) : t));
    })},
  ];
}
