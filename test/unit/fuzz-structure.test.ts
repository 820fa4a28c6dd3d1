import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {CbpError} from '../../src/core/errors';
import {Rng} from '../../src/core/rng';
import {parsePth, stateDict} from '../../src/torch/load';
import {inspectOnnxBytes} from '../../src/app/info';
import {decodeSafetensors} from '../../src/run/safetensors';
import {parseRunState} from '../../src/run/checkpoint';
import {hostileCase, type Kind} from '../hostile/cases';

/** Per case: the most wall time, and the most the process's peak RSS may grow. */
const CASE_MS = 3000;
const CASE_RSS = 768 * 1024 * 1024;

const PARSE: Record<Kind, (b: Uint8Array, name: string) => unknown> = {
  pth: (b, name) => stateDict(parsePth(b, name)),
  onnx: (b, name) => inspectOnnxBytes(b, name),
  safetensors: (b, name) => decodeSafetensors(b, name),
  state: (b, name) => parseRunState(Buffer.from(b).toString('utf8'), name),
};

const PLAN: [Kind, number, number][] = [
  ['pth', 11, 800],
  ['onnx', 12, 400],
  ['safetensors', 13, 600],
  ['state', 14, 1000],
];

test('structure fuzz: pickles, zips, ONNX, safetensors and run states built to lie end in a result or a CbpError naming the file, each within 3 s and 768 MB', {timeout: 240_000}, () => {
  const started = Date.now();
  const outcome: Record<string, {accepted: number; refused: number; slowest: number; seconds: number}> = {};
  for (const [kind, seed, cases] of PLAN) {
    const rng = new Rng(seed);
    const o = {accepted: 0, refused: 0, slowest: 0, seconds: 0};
    const kindStarted = Date.now();
    for (let i = 0; i < cases; i++) {
      const c = hostileCase(kind, rng);
      const file = `${kind}-case-${i}.bin`;
      const peakBefore = process.resourceUsage().maxRSS * 1024;
      const t0 = Date.now();
      try {
        PARSE[kind](c.bytes, file);
        o.accepted++;
      } catch (err) {
        if (!(err instanceof CbpError)) assert.fail(`${kind} case ${i} (${c.name}, seed ${seed}) threw a foreign ${(err as Error).name}: ${(err as Error).message}`);
        assert.ok(err.message.includes(file), `${kind} case ${i} (${c.name}): the error does not name the file: ${err.message}`);
        o.refused++;
      }
      const ms = Date.now() - t0;
      o.slowest = Math.max(o.slowest, ms);
      assert.ok(ms < CASE_MS, `${kind} case ${i} (${c.name}) took ${ms} ms`);
      const grew = process.resourceUsage().maxRSS * 1024 - peakBefore;
      assert.ok(grew < CASE_RSS, `${kind} case ${i} (${c.name}) grew the peak RSS by ${grew} bytes`);
    }
    o.seconds = (Date.now() - kindStarted) / 1000;
    outcome[kind] = o;
  }
  const total = PLAN.reduce((n, p) => n + p[2], 0);
  process.stdout.write(`# structure fuzz: ${total} cases in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(outcome)}\n`);
});
