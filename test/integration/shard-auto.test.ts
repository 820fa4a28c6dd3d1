import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {exportCheckpoint} from '../../src/app/export';
import {shardFromEnv} from '../../src/eval/shard-env';
import {parseShard} from '../../src/data/imagefolder';
import {openSource} from '../../src/data/source';
import type {EvalResult} from '../../src/eval/evaluate';
import {untrainedRun} from '../untrained';
import {cbp, cbpJson, errorText} from '../cli';
import {tempDir} from '../helpers';

const LIMIT = 300;

/** The environment of this test without any scheduler's variables, plus `vars`. */
function envWith(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLURM_') && k !== 'JOB_COMPLETION_INDEX' && k !== 'CBP_SHARD_COUNT') env[k] = v;
  return {...env, ...vars};
}

const slurm = (id: number, min: number, count: number, step = 1): Record<string, string> => ({
  SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_MIN: String(min), SLURM_ARRAY_TASK_COUNT: String(count), SLURM_ARRAY_TASK_MAX: String(min + (count - 1) * step), SLURM_ARRAY_TASK_STEP: String(step),
});
const k8s = (index: number, count: number): Record<string, string> => ({JOB_COMPLETION_INDEX: String(index), CBP_SHARD_COUNT: String(count)});

test('--shard auto reads K/N from a SLURM array (ids from 0, from 1, with a step) or a Kubernetes Indexed Job, and refuses without one', () => {
  assert.deepEqual([0, 1, 2].map((id) => shardFromEnv(slurm(id, 0, 3)).shard), ['1/3', '2/3', '3/3']);
  assert.deepEqual([1, 2, 3, 4].map((id) => shardFromEnv(slurm(id, 1, 4)).shard), ['1/4', '2/4', '3/4', '4/4']);
  assert.deepEqual([10, 12, 14].map((id) => shardFromEnv(slurm(id, 10, 3, 2)).shard), ['1/3', '2/3', '3/3']);
  assert.deepEqual([0, 1].map((i) => shardFromEnv(k8s(i, 2)).shard), ['1/2', '2/2']);
  // Without SLURM_ARRAY_TASK_MAX/STEP (older SLURM) the ids are taken as consecutive.
  assert.equal(shardFromEnv({SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '3'}).shard, '3/3');
  assert.throws(() => shardFromEnv({}), /--shard auto: no scheduler found: expected a SLURM array task .* or a Kubernetes Indexed Job \(JOB_COMPLETION_INDEX with CBP_SHARD_COUNT\)/);
  assert.throws(() => shardFromEnv({JOB_COMPLETION_INDEX: '0'}), /CBP_SHARD_COUNT is not set; set it in the Job's manifest to spec\.completions/);
  assert.throws(() => shardFromEnv(k8s(2, 2)), /JOB_COMPLETION_INDEX 2 is not below CBP_SHARD_COUNT 2/);
  assert.throws(() => shardFromEnv({SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '1'}), /SLURM_ARRAY_TASK_COUNT is not set/);
  // --array=1,3,8: three tasks that are not a range would leave shards uncovered.
  assert.throws(() => shardFromEnv({SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '8', SLURM_ARRAY_TASK_COUNT: '3'}), /not an evenly spaced range/);
  assert.throws(() => shardFromEnv({...slurm(0, 0, 2), SLURM_ARRAY_TASK_ID: 'x'}), /SLURM_ARRAY_TASK_ID is 'x', expected an integer ≥ 0/);
});

test('the shards of every scheduler layout cover the MNIST test images exactly once', async () => {
  /** Each image of a run as its bytes (base64), so images are compared by content, not by position. */
  const images = async (shard?: string): Promise<string[]> => {
    const s = openSource('mnist', {need: 'test', limit: LIMIT, ...(shard !== undefined ? {shard: parseShard(shard)} : {})});
    const out: string[] = [];
    const pixels = 28 * 28;
    for await (const b of s.test.batches(64, 'NCHW')) {
      for (let i = 0; i < b.count; i++) out.push(Buffer.from(b.x.buffer, b.x.byteOffset + i * pixels * 4, pixels * 4).toString('base64'));
    }
    return out;
  };
  const whole = (await images()).sort();
  assert.equal(whole.length, LIMIT);
  for (const layout of [[0, 1, 2, 3].map((id) => slurm(id, 0, 4)), [5, 6, 7].map((id) => slurm(id, 5, 3)), [0, 1].map((i) => k8s(i, 2))]) {
    const all: string[] = [];
    for (const env of layout) all.push(...(await images(shardFromEnv(env).shard)));
    assert.deepEqual(all.sort(), whole);
  }
});

test('cbp eval --shard auto under SLURM and Kubernetes variables: the shards merge to the unsharded counts', async () => {
  const tmp = tempDir('cbp-shard-');
  const file = path.join(tmp, 'lenet5.onnx');
  await exportCheckpoint({checkpoint: untrainedRun(path.join(tmp, 'run'), 'lenet5', 'ter', 'mnist'), format: 'onnx', out: file, weights: 'auto', verifyWith: 'float-onnx', verifyImages: 16});
  const args = ['eval', '--onnx', file, '--data', 'mnist', '--limit', String(LIMIT), '--device', 'cpu'];
  const whole = cbpJson<EvalResult>(args, undefined, envWith({}));
  for (const [name, layout] of [['slurm', [1, 2, 3].map((id) => slurm(id, 1, 3))], ['k8s', [0, 1].map((i) => k8s(i, 2))]] as const) {
    const parts = layout.map((env, i) => {
      const r = cbp([...args, '--shard', 'auto', '--json'], undefined, envWith(env));
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, name === 'slurm' ? /shard \d\/3 \(SLURM array task \d of 1\.\.3\)/ : /shard \d\/2 \(Kubernetes Indexed Job index \d of 2\)/);
      const out = path.join(tmp, `${name}-${i}.json`);
      fs.writeFileSync(out, r.stdout);
      return out;
    });
    const shards = parts.map((p) => (JSON.parse(fs.readFileSync(p, 'utf8')) as EvalResult).shard);
    assert.deepEqual(shards, name === 'slurm' ? ['1/3', '2/3', '3/3'] : ['1/2', '2/2']);
    const merged = cbpJson<EvalResult>(['eval', '--merge', ...parts]);
    assert.equal(merged.images, LIMIT);
    assert.equal(merged.top1Hits, whole.top1Hits);
    assert.equal(merged.top5Hits, whole.top5Hits);
    assert.equal(merged.shard, undefined);
  }
  const none = cbp([...args, '--shard', 'auto'], undefined, envWith({}));
  assert.equal(none.status, 2);
  assert.match(errorText(none.stderr), /--shard auto: no scheduler found/);
});
