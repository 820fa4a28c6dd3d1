import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {ROOT, tempDir} from '../helpers';

interface Row {
  method: string;
  quant: string;
  top1: number;
}

test('shortened study (MNIST subset, one seed): CBP binary beats post-training rounding, re-estimating batch norm repairs much of rounding, and every row is measured in ONNX Runtime', {timeout: 600_000}, () => {
  const out = tempDir('cbp-study-');
  const r = spawnSync(process.execPath, [
    path.join(ROOT, 'dist', 'bench', 'study.js'),
    '--data', 'mnist', '--seeds', '1', '--float-epochs', '2', '--epochs', '1', '--limit', '4096', '--batch-size', '64', '--quants', 'bin', '--backend', 'wasm', '--out', out,
  ], {encoding: 'utf8', timeout: 590_000});
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| method \| bin \|/);
  const {rows} = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as {rows: Row[]};
  const get = (m: string): number => (rows.find((x) => x.method === m) as Row).top1;
  assert.deepEqual(rows.map((x) => x.method), ['float', 'round', 'roundbn', 'ste', 'cbp']);
  // Robust at this size: training with the constraint recovers what rounding a float model to ±s loses.
  assert.ok(get('cbp') > get('round'), `cbp ${get('cbp')} vs round ${get('round')}`);
  assert.ok(get('float') > 0.9, `float ${get('float')}`);
  // Also robust: rounding leaves every batch norm's running statistics wrong for the rounded weights; re-estimating
  // them without training recovers much of what rounding lost.
  assert.ok(get('roundbn') > get('round') + 0.1, `roundbn ${get('roundbn')} vs round ${get('round')}`);
  for (const m of ['float', 'round', 'roundbn', 'ste', 'cbp']) assert.ok(fs.existsSync(path.join(out, m === 'float' ? 'float-s1.onnx' : `${m}-bin-s1.onnx`)), m);

  // The merged table of several study folders counts a row met twice (a reused float model) once: a folder given
  // twice gives the table of the folder, not "x ± 0.00" over two copies.
  const table = (dirs: string[]): string => {
    const t = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'study-table.js'), ...dirs], {encoding: 'utf8'});
    assert.equal(t.status, 0, t.stderr);
    return t.stdout.split('\n').filter((l) => l.startsWith('|')).join('\n');
  };
  const once = table([out]);
  assert.match(once, new RegExp(`\\| float \\| ${(get('float') * 100).toFixed(2)} \\|`));
  assert.match(once, /\| CBP weights at another level than STE's \| \d+ of 4\d{5} \|/);
  assert.equal(table([out, out]), once);

  // Run again into the same folder, with one more epoch for the methods: finished runs are kept as they are, the
  // others resume from their checkpoints, so a long study stopped at any point restarts where it stopped.
  const floatBefore = fs.statSync(path.join(out, 'float-s1', 'weights.safetensors')).mtimeMs;
  const again = spawnSync(process.execPath, [
    path.join(ROOT, 'dist', 'bench', 'study.js'),
    '--data', 'mnist', '--seeds', '1', '--float-epochs', '2', '--epochs', '2', '--limit', '4096', '--batch-size', '64', '--quants', 'bin', '--methods', 'ste,cbp', '--backend', 'wasm', '--out', out,
  ], {encoding: 'utf8', timeout: 590_000});
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /float-s1: already trained 2 of 2 epochs, kept/);
  assert.match(again.stderr, /cbp-bin-s1: resuming after epoch 1 of 2/);
  assert.equal(fs.statSync(path.join(out, 'float-s1', 'weights.safetensors')).mtimeMs, floatBefore);
  for (const m of ['ste', 'cbp']) assert.equal(JSON.parse(fs.readFileSync(path.join(out, `${m}-bin-s1`, 'state.json'), 'utf8')).epoch, 2, m);
});
