import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {readCheckpoint} from '../../src/run/checkpoint';
import type {TrainResult} from '../../src/train/trainer';
import {ROOT} from '../helpers';
import {cbp, cbpJson, errorText} from '../cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-reliability-'));
const args = ['train', '--model', 'lenet5', '--data', 'mnist', '--limit', '2048', '--batch-size', '64', '--backend', 'wasm', '--quant', 'bin', '--epochs', '3', '--seed', '7', '--workers', '2'];

/** Completed epochs according to state.json (cheap to poll; the weights file is the authority on resume). */
function completedEpochs(dir: string): number {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as {epoch: number}).epoch;
  } catch {
    return 0;
  }
}

test('kill -9 in the middle of an epoch, then --resume: the run continues from the last completed epoch to the same weights', {timeout: 600_000}, async () => {
  const whole = path.join(tmp, 'whole');
  cbpJson<TrainResult>([...args, '--out', whole]);

  const killed = path.join(tmp, 'killed');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args, '--out', killed], {stdio: 'ignore'});
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  while (completedEpochs(killed) < 1) await new Promise((r) => setTimeout(r, 250));
  // Well inside the second epoch (an epoch takes several seconds here).
  await new Promise((r) => setTimeout(r, 1500));
  child.kill('SIGKILL');
  await exited;
  const after = readCheckpoint(killed).state.epoch;
  assert.ok(after >= 1 && after < 3, `checkpoint after the kill holds ${after} epochs`);

  const resumed = cbpJson<TrainResult>(['train', '--resume', killed, '--backend', 'wasm']);
  assert.equal(resumed.epochs.length, 3);
  const a = readCheckpoint(whole).tensors;
  const b = readCheckpoint(killed).tensors;
  for (const [k, t] of a) assert.deepEqual(b.get(k)?.data, t.data, k);
});

test('a diverging run stops with the epoch and step, and an unwritable --out is refused before any work', () => {
  const out = path.join(tmp, 'diverged');
  const r = cbp(['train', '--model', 'lenet5', '--quant', 'none', '--data', 'mnist', '--limit', '512', '--batch-size', '64', '--lr', '1e30', '--backend', 'wasm', '--out', out]);
  assert.equal(r.status, 2);
  assert.match(errorText(r.stderr), /training diverged at epoch 1, step \d+: loss \S+, Lagrangian \S+; the last good checkpoint in \S+ is kept/);
  assert.equal(fs.existsSync(path.join(out, 'weights.safetensors')), false);
  // A folder that cannot exist: its parent is a regular file.
  const file = path.join(tmp, 'a-file');
  fs.writeFileSync(file, 'not a folder');
  const bad = cbp(['train', '--limit', '512', '--out', path.join(file, 'run')]);
  assert.equal(bad.status, 2);
  assert.match(errorText(bad.stderr), /--out \S+a-file\/run: cannot write checkpoints there \(ENOTDIR\)/);
});
