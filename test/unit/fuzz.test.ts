import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {decodeRgb} from '../../src/data/imagefolder';
import {CbpError} from '../../src/core/errors';
import {inspectOnnxBytes} from '../../src/app/info';
import {decodeSafetensors, encodeSafetensors} from '../../src/run/safetensors';
import {parsePth, stateDict} from '../../src/torch/load';
import {parseRunState} from '../../src/run/checkpoint';
import {initialWeights} from '../../src/train/init';
import {Rng} from '../../src/core/rng';
import {getModel} from '../../models/index';
import {writeOnnx} from '../../onnx/writer';
import {FIXTURES} from '../helpers';

/** One random corruption of `src`: flipped bits, overwritten bytes, a huge length field, truncation, insertion or a repeated slice. */
function mutate(src: Uint8Array, rng: Rng): Uint8Array {
  const b = Buffer.from(src);
  const at = (): number => Math.floor(rng.next() * b.length);
  switch (Math.floor(rng.next() * 6)) {
    case 0:
      for (let i = 0, n = 1 + Math.floor(rng.next() * 8); i < n; i++) b[at()] ^= 1 << Math.floor(rng.next() * 8);
      return b;
    case 1:
      for (let i = 0, n = 1 + Math.floor(rng.next() * 16); i < n; i++) b[at()] = Math.floor(rng.next() * 256);
      return b;
    case 2: {
      const p = Math.max(0, at() - 8);
      const v = [0xffffffff, 0x7fffffff, 0x80000000, 0][Math.floor(rng.next() * 4)];
      if (p + 4 <= b.length) b.writeUInt32LE(v, p);
      return b;
    }
    case 3:
      return b.subarray(0, at());
    case 4: {
      const p = at();
      const junk = Buffer.from(Array.from({length: 1 + Math.floor(rng.next() * 32)}, () => Math.floor(rng.next() * 256)));
      return Buffer.concat([b.subarray(0, p), junk, b.subarray(p)]);
    }
    default: {
      const p = at();
      const len = Math.floor(rng.next() * 64);
      return Buffer.concat([b.subarray(0, p), b.subarray(p, p + len), b.subarray(p)]);
    }
  }
}

interface Outcome {
  cases: number;
  accepted: number;
  refused: number;
}

async function fuzz(name: string, seed: number, cases: number, src: Uint8Array, parse: (bytes: Uint8Array) => unknown): Promise<Outcome> {
  const rng = new Rng(seed);
  const out: Outcome = {cases, accepted: 0, refused: 0};
  for (let i = 0; i < cases; i++) {
    const bytes = mutate(src, rng);
    try {
      await parse(bytes);
      out.accepted++;
    } catch (err) {
      if (!(err instanceof CbpError)) {
        assert.fail(`${name} case ${i} (seed ${seed}) threw a foreign ${(err as Error).name}: ${(err as Error).message}\n${(err as Error).stack}`);
      }
      out.refused++;
    }
  }
  return out;
}

const totals: Record<string, Outcome> = {};

test('fuzz: mutated .pth, .onnx, .safetensors, state.json and JPEG inputs end in cbp errors or valid results, nothing else', {timeout: 300_000}, async () => {
  const started = Date.now();
  const rssBefore = process.memoryUsage().rss;
  const torch = path.join(FIXTURES, 'torch');
  for (const f of ['features_zip.pth', 'features_legacy.pth', 'hostile_os_system.pth']) {
    totals[f] = await fuzz(f, 1, 1500, fs.readFileSync(path.join(torch, f)), (b) => stateDict(parsePth(b, f)));
  }
  const spec = getModel('lenet5');
  const onnx = writeOnnx(spec, 'ter', initialWeights(spec, 'ter', 1), 'auto', {'cbp.constraint': 'ter'}).bytes;
  totals['lenet5_ter.onnx'] = await fuzz('onnx', 2, 1000, onnx, (b) => inspectOnnxBytes(b, 'lenet5_ter.onnx'));
  const st = encodeSafetensors(new Map([['a.weight', {shape: [4, 3], data: new Float32Array(12).fill(0.5)}], ['b', {shape: [2], data: Float32Array.of(1, 2)}]]), {'cbp.state': '{}'});
  totals['weights.safetensors'] = await fuzz('safetensors', 3, 2000, st, (b) => decodeSafetensors(b, 'weights.safetensors'));
  const state = Buffer.from(JSON.stringify({format: 'cbp-checkpoint', version: 1, config: {model: 'lenet5', quant: 'bin', numClasses: 10, data: 'mnist'}, epoch: 2, schedule: {g: 1, ucs: 0}, progress: [], backend: 'wasm'}));
  totals['state.json'] = await fuzz('state.json', 4, 1500, state, (b) => parseRunState(Buffer.from(b).toString('utf8'), 'state.json'));
  const jpeg = fs.readFileSync(path.join(FIXTURES, 'imagenet', 'val', 'n04069434', 'hopper.JPEG'));
  totals['hopper.JPEG'] = await fuzz('jpeg', 5, 150, jpeg, (b) => decodeRgb(Buffer.from(b), {kind: 'eval', resize: 256, crop: 224}, 'hopper.JPEG'));
  const all = Object.values(totals).reduce((s, o) => s + o.cases, 0);
  const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  process.stdout.write(`# fuzz: ${all} cases in ${((Date.now() - started) / 1000).toFixed(1)} s, RSS grew ${grown.toFixed(0)} MiB: ${JSON.stringify(totals)}\n`);
  assert.ok(all >= 7000);
  assert.ok(grown < 1024, `memory grew by ${grown} MiB`);
});
