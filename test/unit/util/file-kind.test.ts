import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CHECKPOINT_MARKERS, fileKind} from '../../../src/core/file-kind';
import {wrongFile} from '../../../src/core/wrong-file';
import {STATE_FILE, WEIGHTS_FILE} from '../../../src/run/checkpoint';
import {encodeSafetensors} from '../../../src/run/safetensors';
import {FIXTURES, tempDir} from '../../helpers';

const tmp = tempDir('cbp-kind-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const write = (name: string, bytes: Uint8Array | string): string => {
  const f = path.join(tmp, name);
  fs.mkdirSync(path.dirname(f), {recursive: true});
  fs.writeFileSync(f, bytes);
  return f;
};

/** A protobuf length-delimited field: tag, length (one byte here), bytes. */
const field = (n: number, bytes: Uint8Array): number[] => [(n << 3) | 2, bytes.length, ...bytes];
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
/** The smallest ModelProto: ir_version 8, an empty graph, optionally one metadata entry. */
function model(meta?: [string, string]): Uint8Array {
  const entry = meta === undefined ? [] : field(14, Uint8Array.from([...field(1, utf8(meta[0])), ...field(2, utf8(meta[1]))]));
  return Uint8Array.from([0x08, 0x08, ...field(7, new Uint8Array(0)), ...entry]);
}

test('the checkpoint folder markers are the names src/run writes', () => {
  assert.equal(CHECKPOINT_MARKERS.state, STATE_FILE);
  assert.equal(CHECKPOINT_MARKERS.weights, WEIGHTS_FILE);
});

test('each kind of file is told by its bytes, whatever its name', () => {
  const cases: [string, Uint8Array | string, string][] = [
    ['notes.onnx', 'hello notes\n', 'text'],
    ['hostname.pth', 'box\n', 'text'],
    ['empty.pth', '', 'empty'],
    ['model.txt', model(), 'onnx'],
    ['foreign.onnx', model(['producer', 'x']), 'onnx'],
    ['ours.bin', model(['cbp.model', 'lenet5']), 'cbp-onnx'],
    ['truncated.onnx', model().subarray(0, 3), 'binary'],
    ['pickle.onnx', Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), 'pytorch-legacy'],
    ['w.pth', encodeSafetensors(new Map([['w', {shape: [1], data: Float32Array.of(1)}]])), 'safetensors'],
    ['noise.onnx', Uint8Array.from([0xff, 0xfe, 0x00, 0x07, 0x93]), 'binary'],
  ];
  for (const [name, bytes, kind] of cases) assert.equal(fileKind(write(name, bytes)).kind, kind, name);
  assert.equal(fileKind(path.join(FIXTURES, 'torch', 'resnet18_cbp_zip.pth')).kind, 'pytorch-zip');
  assert.equal(fileKind(path.join(FIXTURES, 'torch', 'resnet50_legacy.pth')).kind, 'pytorch-legacy');
  assert.equal(fileKind(path.join(FIXTURES, 'onnx', 'resnet_bn.onnx')).kind, 'onnx');
  assert.equal(fileKind(path.join(tmp, 'nothing-here')).kind, 'missing');
  assert.equal(fileKind(tmp).kind, 'folder');
  assert.equal(fileKind('/dev/null').kind, 'special');
});

test('a model cbp exported carries its cbp.* metadata; a checkpoint folder and its weights file are named as such', () => {
  assert.equal(fileKind(write('ours.onnx', model(['cbp.model', 'lenet5']))).cbp.get('cbp.model'), 'lenet5');
  const dir = path.join(tmp, 'run');
  write(path.join('run', STATE_FILE), '{}');
  write(path.join('run', WEIGHTS_FILE), encodeSafetensors(new Map([['w', {shape: [1], data: Float32Array.of(1)}]])));
  assert.equal(fileKind(dir).kind, 'checkpoint');
  assert.equal(fileKind(path.join(dir, WEIGHTS_FILE)).kind, 'checkpoint-weights');
});

test('the refusal names the file, says what it is and what the command reads', () => {
  const notes = write('notes.txt', 'hello\n');
  const err = wrongFile('import', notes, fileKind(notes));
  assert.equal(err.code, 'WRONG_FILE');
  assert.equal(err.message, `${notes}: a text file, not a PyTorch checkpoint or an ONNX model; cbp import reads a PyTorch .pth (torch.save, zip or legacy format) or a float ONNX model (torch.onnx.export)`);
  const pth = path.join(FIXTURES, 'torch', 'resnet50_legacy.pth');
  assert.match(wrongFile('eval', pth, fileKind(pth)).message, /^--onnx .*resnet50_legacy\.pth: a PyTorch checkpoint \(legacy pickle format\), not an ONNX model; cbp import .* --onnx OUT\.onnx makes one of it$/);
  assert.equal(wrongFile('info', path.join(tmp, 'gone'), fileKind(path.join(tmp, 'gone'))).code, 'NO_FILE');
});
