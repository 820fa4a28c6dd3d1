import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {decodeSafetensors, encodeSafetensors, safetensorsParts} from '../../../src/run/safetensors';
import {writeFileAtomic} from '../../../src/core/atomic';
import {CbpError} from '../../../src/core/errors';
import {tempDir} from '../../helpers';

test('safetensors: round trip keeps names, shapes, values and metadata; data starts 8-byte aligned', () => {
  const tensors = new Map([
    ['conv.weight', {shape: [2, 1, 2, 2], data: Float32Array.from([1, -2, 3.5, 4, 5, 6, 7, -8])}],
    ['bias', {shape: [3], data: Float32Array.from([0.25, 0, -1e-7])}],
  ]);
  const bytes = encodeSafetensors(tensors, {note: 'hello'});
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0);
  const back = decodeSafetensors(bytes, 'x.safetensors');
  assert.deepEqual(back.metadata, {note: 'hello'});
  assert.deepEqual([...back.tensors.keys()].sort(), ['bias', 'conv.weight']);
  assert.deepEqual(back.tensors.get('conv.weight')?.shape, [2, 1, 2, 2]);
  assert.deepEqual([...(back.tensors.get('bias')?.data ?? [])], [...Float32Array.from([0.25, 0, -1e-7])]);
});

test('safetensors: truncated data and lying headers are refused with the file named', () => {
  const bytes = encodeSafetensors(new Map([['w', {shape: [4], data: new Float32Array(4)}]]));
  assert.throws(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4), 'cut.safetensors'), (e: unknown) => {
    assert.ok(e instanceof CbpError);
    assert.match(e.message, /cut\.safetensors.*'w'.*data_offsets/);
    return true;
  });
  const huge = new Uint8Array(bytes);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  assert.throws(() => decodeSafetensors(huge, 'huge.safetensors'), /huge\.safetensors: .*header length 1099511627776 exceeds the file/);
  assert.throws(() => decodeSafetensors(new Uint8Array(3), 'tiny.safetensors'), /tiny\.safetensors: .*3 bytes/);
});

test('safetensors: a file written in pieces from views of larger arrays is the one-buffer file', () => {
  // Views at an offset into a larger buffer, as an engine's arrays may be (subarrays, shared memory).
  const big = Float32Array.from({length: 40}, (_, i) => i * 0.5 - 3);
  const tensors = new Map([
    ['b.weight', {shape: [2, 3], data: big.subarray(7, 13)}],
    ['a.bias', {shape: [5], data: big.subarray(30, 35)}],
  ]);
  const whole = encodeSafetensors(tensors, {state: '{"epoch": 1}'});
  const dir = tempDir('cbp-st-');
  try {
    const file = path.join(dir, 'w.safetensors');
    writeFileAtomic(file, safetensorsParts(tensors, {state: '{"epoch": 1}'}));
    const written = fs.readFileSync(file);
    assert.deepEqual(new Uint8Array(written), whole);
    assert.deepEqual([...(decodeSafetensors(written, file).tensors.get('b.weight')?.data ?? [])], [...big.subarray(7, 13)]);
    assert.deepEqual(fs.readdirSync(dir), ['w.safetensors'], 'no temporary file left');
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
});
