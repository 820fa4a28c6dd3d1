import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../../src/core/errors';
import {readPth, stateDict} from '../../../src/torch/load';
import {NdArray, unpickle} from '../../../src/torch/pickle';
import {FIXTURES, tempDir} from '../../helpers';

const TORCH = path.join(FIXTURES, 'torch');
const expected = JSON.parse(fs.readFileSync(path.join(TORCH, 'features.json'), 'utf8')) as Record<string, {shape: number[]; values: number[]}>;

for (const file of ['features_zip.pth', 'features_legacy.pth']) {
  test(`${file}: every storage type, strided views and storage offsets read as PyTorch wrote them`, () => {
    const pth = readPth(path.join(TORCH, file));
    const sd = stateDict(pth);
    assert.deepEqual([...sd.keys()].sort(), Object.keys(expected).sort());
    for (const [name, want] of Object.entries(expected)) {
      const got = sd.get(name);
      assert.deepEqual(got?.shape, want.shape, name);
      assert.deepEqual([...(got?.data ?? [])], want.values.map(Math.fround), name);
    }
    // The other top-level keys are read as plain data.
    const root = pth.root as Map<string, unknown>;
    assert.equal(root.get('epoch'), 3);
    const progress = root.get('progress');
    assert.ok(progress instanceof NdArray);
    assert.deepEqual(progress.shape, [2, 4]);
    assert.equal(root.get('best'), 0.25);
    assert.equal(root.get('device'), 'cpu');
    assert.deepEqual(root.get('size'), [2, 3]);
  });
}

for (const name of ['os_system', 'builtins_eval', 'subprocess', 'posix_system']) {
  test(`hostile pickle (${name}) is refused by the global's name and nothing runs`, () => {
    const marker = '/tmp/cbp-pwned';
    fs.rmSync(marker, {force: true});
    assert.throws(
      () => readPth(path.join(TORCH, `hostile_${name}.pth`)),
      (e: unknown) => e instanceof CbpError && e.code === 'FORBIDDEN_GLOBAL' && /hostile_.*refused: the pickle names the global '(posix\.system|__builtin__\.eval|commands\.call|subprocess\.call)'/.test(e.message),
    );
    assert.equal(fs.existsSync(marker), false);
  });
}

const tmp = tempDir('cbp-pth-');
function write(name: string, bytes: Uint8Array): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, bytes);
  return f;
}

test('truncated zip, wrong magic and storages larger than the file are clean errors naming the file', () => {
  const zip = fs.readFileSync(path.join(TORCH, 'resnet18_cbp_zip.pth'));
  const cut = write('cut.pth', zip.subarray(0, zip.length - 100));
  assert.throws(() => readPth(cut), /cut\.pth: not a readable zip archive: no end-of-central-directory record/);
  const junk = write('junk.pth', Buffer.from('this is not a checkpoint at all'));
  assert.throws(() => readPth(junk), /junk\.pth: neither a zip archive nor a legacy PyTorch file/);
  // A legacy file whose first storage claims 2^40 elements: refused before anything is allocated.
  const legacy = fs.readFileSync(path.join(TORCH, 'features_legacy.pth'));
  const mutated = Buffer.from(legacy);
  // The storages follow the key list; the first 8-byte count sits right after the key list's STOP.
  const main = findStorageCountOffset(mutated);
  mutated.writeBigUInt64LE(1n << 40n, main);
  const big = write('big.pth', mutated);
  assert.throws(() => readPth(big), /big\.pth: storage '\d+' claims \d+ bytes, only \d+ remain/);
});

/** Offset of the first storage's element count in a legacy file: after the fifth pickle's STOP. */
function findStorageCountOffset(buf: Buffer): number {
  let pos = 0;
  for (let i = 0; i < 5; i++) pos = unpickle(buf, 'x', () => ({kind: 'storage', dtype: 'FloatStorage', key: '0', numel: 0}), pos).end;
  return pos;
}

test('deep nesting, memo references to nothing and unknown opcodes are refused', () => {
  const deep = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(20000, 0x28), Buffer.from('.')]);
  assert.throws(() => unpickle(deep, 'deep.pkl', () => null), /deep\.pkl: bad pickle at byte \d+: nesting deeper than 1000/);
  const memo = Buffer.from([0x80, 0x02, 0x68, 0x07, 0x2e]);
  assert.throws(() => unpickle(memo, 'memo.pkl', () => null), /memo\.pkl: .*memo entry 7 was never stored/);
  const odd = Buffer.from([0x80, 0x02, 0xff]);
  assert.throws(() => unpickle(odd, 'odd.pkl', () => null), /odd\.pkl: .*unknown opcode 0xff/);
  const newobj = Buffer.from([0x80, 0x02, 0x29, 0x29, 0x81, 0x2e]);
  assert.throws(() => unpickle(newobj, 'obj.pkl', () => null), /obj\.pkl: .*opcode 0x81 builds arbitrary objects/);
  const truncated = Buffer.from([0x80, 0x02, 0x58, 0xff, 0xff, 0x00, 0x00, 0x41]);
  assert.throws(() => unpickle(truncated, 'short.pkl', () => null), /short\.pkl: .*the file ends/);
});
