import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {encodeSafetensors} from '../../src/run/safetensors';
import {cbp, cbpJson, errorText} from '../cli';
import {untrainedRun} from '../untrained';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-wrong-file-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const notes = path.join(tmp, 'notes.txt');
fs.writeFileSync(notes, 'remember to train lenet5\n');

/** Runs cbp expecting a refusal: exit 2, the code, and the message (oclif's line wrapping undone). */
function refused(args: readonly string[], code: string): string {
  const r = cbp(args, 60_000);
  assert.equal(r.status, 2, `cbp ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`Code: ${code}`), r.stderr);
  return errorText(r.stderr);
}

test('cbp info and cbp import say what a text file is and what they read', () => {
  assert.match(refused(['info', notes], 'WRONG_FILE'), /notes\.txt: a text file, not an ONNX model or a cbp checkpoint folder; cbp info reads an \.onnx file or a checkpoint folder/);
  assert.match(refused(['import', notes], 'WRONG_FILE'), /notes\.txt: a text file, not a PyTorch checkpoint or an ONNX model; cbp import reads a PyTorch \.pth .* or a float ONNX model/);
  // By the bytes, not the name: a text file named .onnx or .pth is still a text file.
  const named = path.join(tmp, 'model.pth');
  fs.copyFileSync(notes, named);
  assert.match(refused(['import', named, '--model', 'lenet5', '--quant', 'bin'], 'WRONG_FILE'), /model\.pth: a text file/);
});

test('cbp import refuses a safetensors file, a checkpoint folder and a model cbp exported, naming the command that takes each', () => {
  const st = path.join(tmp, 'model.safetensors');
  fs.writeFileSync(st, encodeSafetensors(new Map([['w', {shape: [2], data: Float32Array.of(1, 2)}]])));
  assert.match(refused(['import', st], 'WRONG_FILE'), /model\.safetensors: a safetensors file, not a PyTorch checkpoint or an ONNX model; cbp reads safetensors only in its own checkpoint folders/);
  const run = untrainedRun(path.join(tmp, 'run'), 'lenet5', 'bin', 'mnist');
  assert.match(refused(['import', run], 'WRONG_FILE'), /run: a cbp checkpoint folder, not a PyTorch checkpoint or an ONNX model; it needs no import: train from it with cbp train --init .*run, export it with cbp export --checkpoint/);
  assert.match(refused(['import', path.join(run, 'weights.safetensors')], 'WRONG_FILE'), /weights\.safetensors: the weights file of a cbp checkpoint folder.*cbp train --init .*run/);
  const onnx = path.join(tmp, 'lenet5_bin.onnx');
  cbpJson(['export', '--checkpoint', run, '--out', onnx]);
  const msg = refused(['import', onnx], 'WRONG_FILE');
  assert.match(msg, /lenet5_bin\.onnx: an ONNX model cbp exported \(lenet5, bin\) with its constrained weights stored as codes, not a float model to import; see it with cbp info .* evaluate it with cbp eval --onnx/);
  assert.doesNotMatch(msg, /BitShift|unsupported/);
});

test('cbp eval --onnx says what a checkpoint folder or a text file is, and how to make an ONNX model of a checkpoint', () => {
  const run = untrainedRun(path.join(tmp, 'run-eval'), 'lenet5', 'bin', 'mnist');
  assert.match(refused(['eval', '--onnx', run], 'WRONG_FILE'), /--onnx .*run-eval: a cbp checkpoint folder, not an ONNX model; cbp export --checkpoint .*run-eval writes its ONNX model/);
  assert.match(refused(['eval', '--onnx', notes], 'WRONG_FILE'), /--onnx .*notes\.txt: a text file, not an ONNX model/);
});
