import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {readCheckpoint} from '../../src/run/checkpoint';
import type {TrainResult} from '../../src/train/trainer';
import {ROOT, tempDir} from '../helpers';
import {cbp, cbpJson, errorText} from '../cli';

const tmp = tempDir('cbp-reliability-');
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

test('cbp train on Linux with CBP_HUGEPAGES=1 trains in a child process with huge pages for malloc; killing cbp (even by SIGKILL) stops it, and by default it runs in one process', {skip: process.platform !== 'linux'}, async () => {
  const children = (pid: number): number[] => {
    try {
      return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
    } catch {
      return [];
    }
  };
  const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  const long = ['train', '--model', 'lenet5', '--data', 'mnist', '--limit', '20000', '--quant', 'bin', '--epochs', '20', '--no-plot'];
  const parent = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...long, '--out', path.join(tmp, 'huge')], {stdio: 'ignore', env: {...process.env, CBP_HUGEPAGES: '1'}});
  const pid = parent.pid ?? assert.fail('no pid');
  let kids: number[] = [];
  for (let i = 0; i < 100 && kids.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    kids = children(pid);
  }
  assert.equal(kids.length, 1, 'one child process');
  // Between fork and exec the child still shows cbp's own environment: read it again until the exec has happened
  // (the child's own marker, CBP_TRAIN_CHILD=1, is in it).
  const environ = (): string => fs.readFileSync(`/proc/${kids[0]}/environ`, 'utf8');
  for (let i = 0; i < 50 && !/CBP_TRAIN_CHILD=1/.test(environ()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(environ(), /GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1/);
  parent.kill('SIGKILL');
  for (let i = 0; i < 50 && alive(kids[0]); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!alive(kids[0]), 'the training child outlived cbp');
  const {CBP_HUGEPAGES: _ignored, ...defaults} = process.env;
  const single = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...long, '--out', path.join(tmp, 'single')], {stdio: 'ignore', env: defaults});
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(children(single.pid ?? 0).filter((c) => /node|run\.js/.test(fs.readFileSync(`/proc/${c}/cmdline`, 'utf8'))), []);
  single.kill('SIGKILL');
});
