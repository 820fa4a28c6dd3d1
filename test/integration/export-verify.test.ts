import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError, exportCheckpoint, type ExportResult} from '../../src/index';
import {cbp, cbpJson, errorText} from '../cli';
import {untrainedRun} from '../untrained';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-export-verify-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const run = untrainedRun(path.join(tmp, 'run'), 'lenet5', 'ter', 'mnist');

test('cbp export --verify-images N checks the written file on N test images, and says so', () => {
  const r = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', path.join(tmp, 'a.onnx'), '--verify-images', '24']);
  assert.equal(r.verifiedImages, 24);
  const plain = cbp(['export', '--checkpoint', run, '--out', path.join(tmp, 'b.onnx'), '--verify-images', '8']);
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /verified in ONNX Runtime on 8 test images/);
});

test('--verify-images outside 1..10000 is refused naming the flag, by the CLI and by the library', async () => {
  for (const v of ['0', '10001', '2.5']) {
    const r = cbp(['export', '--checkpoint', run, '--out', path.join(tmp, 'c.onnx'), '--verify-images', v]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(errorText(r.stderr), v === '2.5' ? /--verify-images.*Expected an integer but received: 2\.5/ : new RegExp(`--verify-images ${v}: expected an integer in \\[1, 10000\\]`));
  }
  await assert.rejects(exportCheckpoint({checkpoint: run, out: path.join(tmp, 'd.onnx'), verifyImages: 0}), (e: unknown) => e instanceof CbpError && e.code === 'BAD_FLAG' && e.message === '--verify-images 0: expected an integer in [1, 10000]');
  assert.ok(!fs.existsSync(path.join(tmp, 'c.onnx')) && !fs.existsSync(path.join(tmp, 'd.onnx')));
});
