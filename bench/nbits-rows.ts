/**
 * Where MatMulNBits pays: one dense layer's product y = x·Wᵀ, x of M rows, as MatMulNBits on 4-bit codes
 * (accuracy_level 0, as `cbp export --weights fast` writes it) against a float MatMul of the same weights, each a
 * one-node file opened with default options (`--threads N` sets intraOpNumThreads). M is the rows of one sample's
 * product: 1 for a layer on features [N, C] at batch 1, T for a token-wise layer [N, T, C] at batch 1 (17 tokens in
 * the test ViT, 50 in the study's, 197 in vit_b_16). Each round runs both files once, the order reversed every
 * round, each side after 150 ms idle and the median of a burst of 10 runs; the table gives the median of the rounds'
 * ratios. It backs the rule of `nbitsPays` (onnx/codes.ts) that `--weights fast` follows.
 *
 *   npm run build && node dist/bench/nbits-rows.js [--rows 1,2,4,17,50,197] [--layers 128x384,768x768,768x3072] [--rounds 15] [--threads 1]
 */
import * as os from 'node:os';
import {performance} from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import {errorMessage} from '../src/core/errors';
import {Rng} from '../src/core/rng';
import {MATMUL_NBITS, nbitsBlockSize, packNBits} from '../onnx/codes';
import {AttributeType, DataType, ModelProto, type ModelMsg, type NodeMsg, type TensorMsg} from '../onnx/schema';
import {count, median, option} from './args';
import {GAP_MS, sideTime} from './alternate';

const BURST = 10;

const int = (name: string, i: number): NodeMsg['attribute'][number] => ({name, type: AttributeType.INT, i});

/** A one-node model: x [M, K] → y [M, N]. */
function model(node: NodeMsg, inits: TensorMsg[], k: number, n: number, nbits: boolean): Uint8Array {
  const msg: ModelMsg = {
    ir_version: 7,
    opset_import: [{domain: '', version: 13}, ...(nbits ? [{domain: MATMUL_NBITS.domain, version: 1}] : [])],
    producer_name: 'cbp-bench',
    producer_version: '',
    graph: {
      name: 'dense',
      node: [node],
      initializer: inits,
      input: [{name: 'x', type: {tensor_type: {elem_type: DataType.FLOAT, shape: {dim: [{dim_param: 'm'}, {dim_value: k}]}}}}],
      output: [{name: 'y', type: {tensor_type: {elem_type: DataType.FLOAT, shape: {dim: [{dim_param: 'm'}, {dim_value: n}]}}}}],
    },
    metadata_props: [],
  };
  return ModelProto.encode(ModelProto.fromObject(msg)).finish();
}

/** The float file and the MatMulNBits file of one ternary weight [N, K] (codes −1, 0, 1 times a step). */
function files(k: number, n: number, rng: Rng): [Uint8Array, Uint8Array] {
  const step = 0.05;
  const codes = Int8Array.from({length: n * k}, () => Math.floor(rng.next() * 3) - 1);
  // The float MatMul takes Wᵀ [K, N].
  const wt = new Float32Array(k * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) wt[j * n + i] = codes[i * k + j] * step;
  const float = model({name: 'mm', op_type: 'MatMul', input: ['x', 'w'], output: ['y'], attribute: []},
    [{name: 'w', dims: [k, n], data_type: DataType.FLOAT, raw_data: new Uint8Array(wt.buffer)}], k, n, false);
  const block = nbitsBlockSize(k);
  const blocks = Math.ceil(k / block);
  const nbits = model({
    name: 'nb', op_type: MATMUL_NBITS.op, domain: MATMUL_NBITS.domain, input: ['x', 'b', 's'], output: ['y'],
    attribute: [int('K', k), int('N', n), int('bits', MATMUL_NBITS.bits), int('block_size', block), int('accuracy_level', MATMUL_NBITS.accuracyLevel)],
  }, [
    {name: 'b', dims: [n, blocks, block / 2], data_type: DataType.UINT8, raw_data: packNBits(codes, n, k, block)},
    {name: 's', dims: [n, blocks], data_type: DataType.FLOAT, raw_data: new Uint8Array(new Float32Array(n * blocks).fill(step).buffer)},
  ], k, n, true);
  return [float, nbits];
}

async function main(): Promise<void> {
  const rows = option('--rows', '1,2,4,17,50,197').split(',').map(Number);
  const layers = option('--layers', '128x384,768x768,768x3072').split(',').map((s) => s.split('x').map(Number));
  const rounds = count('--rounds', 15, 3);
  const threads = count('--threads', 0, 0);
  const options: ort.InferenceSession.SessionOptions = threads > 0 ? {intraOpNumThreads: threads} : {};
  const rng = new Rng(5);
  const out: string[][] = [];
  for (const [k, n] of layers) {
    const sessions = await Promise.all(files(k, n, rng).map((b) => ort.InferenceSession.create(b, options)));
    for (const m of rows) {
      const x = new ort.Tensor('float32', Float32Array.from({length: m * k}, () => rng.normal()), [m, k]);
      const run = async (s: ort.InferenceSession): Promise<number> => {
        const t0 = performance.now();
        await s.run({x});
        return performance.now() - t0;
      };
      for (const s of sessions) await run(s);
      const times: number[][] = [[], []];
      for (let r = 0; r < rounds; r++) {
        for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) times[i].push(await sideTime(() => run(sessions[i]), BURST));
      }
      const ratio = median(times[1].map((t, j) => t / times[0][j]));
      const row = [`${k} → ${n}`, String(m), (median(times[0]) * 1000).toFixed(0), (median(times[1]) * 1000).toFixed(0), `${ratio.toFixed(2)}×`];
      out.push(row);
      process.stderr.write(`${row.join(' | ')}\n`);
    }
    for (const s of sessions) await s.release();
  }
  const header = ['layer (in → out)', 'rows M', 'float MatMul, µs', 'MatMulNBits, µs', 'MatMulNBits / float (median of rounds)'];
  const cpu = os.cpus();
  process.stdout.write(`node dist/bench/nbits-rows.js${process.argv.slice(2).map((a) => ` ${a}`).join('')}: ${rounds} rounds, ${GAP_MS} ms idle before each side, the median of ${BURST} runs; ` +
    `${threads > 0 ? `intraOpNumThreads ${threads}` : 'default session options'}; onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, ${cpu[0]?.model.trim() ?? 'CPU'}, ${cpu.length} cores.\n\n` +
    [header, header.map(() => '---'), ...out].map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(1);
});
