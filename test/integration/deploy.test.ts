import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {exportCheckpoint} from '../../src/app/export';
import {openSession, runBatch} from '../../src/core/ort';
import {loadDataset, makeBatch} from '../../src/data/index';
import {maxAbsDiff, tempDir} from '../helpers';
import {untrainedRun} from '../untrained';

/**
 * `--weights portable` is for runtimes other than ONNX Runtime. Checked with Debian's onnx 1.12 checker and
 * OpenCV 4.6's DNN module (`apt-get install python3-onnx python3-opencv`); where they are absent (CI) the test
 * is skipped and says so, since installing them is not the test's business.
 */
const PYTHON = '/usr/bin/python3';
const probe = fs.existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import onnx, cv2; print(onnx.__version__, cv2.__version__)'], {encoding: 'utf8'}) : undefined;
const versions = probe?.status === 0 ? probe.stdout.trim() : undefined;
const skip = versions === undefined ? `needs ${PYTHON} with onnx and cv2 (Debian: apt-get install python3-onnx python3-opencv); not found here` : false;

const CHECK = `
import sys, numpy as np, onnx, cv2
path, inputs, out = sys.argv[1], sys.argv[2], sys.argv[3]
onnx.checker.check_model(onnx.load(path), full_check=True)
net = cv2.dnn.readNetFromONNX(path)
x = np.fromfile(inputs, dtype=np.float32).reshape(-1, 1, 28, 28)
net.setInput(x)
net.forward().astype(np.float32).tofile(out)
`;

for (const model of ['lenet5', 'resnet20'] as const) {
  test(`${model} --weights portable passes the onnx checker and runs in OpenCV's DNN with ONNX Runtime's logits`, {skip}, async () => {
    const tmp = tempDir('cbp-deploy-');
    const run = untrainedRun(path.join(tmp, 'run'), model, 'bin', 'mnist');
    const file = path.join(tmp, `${model}.onnx`);
    await exportCheckpoint({checkpoint: run, format: 'onnx', out: file, weights: 'portable', verifyWith: 'float-onnx', verifyImages: 16});
    const mnist = loadDataset('mnist');
    const {x} = makeBatch(mnist, mnist.test, Array.from({length: 8}, (_, i) => i), 'NCHW');
    const inputs = path.join(tmp, 'x.f32');
    fs.writeFileSync(inputs, x);
    const out = path.join(tmp, 'cv.f32');
    const r = spawnSync(PYTHON, ['-c', CHECK, file, inputs, out], {encoding: 'utf8'});
    assert.equal(r.status, 0, `onnx ${versions}: ${r.stderr}`);
    const cv = new Float32Array(Uint8Array.from(fs.readFileSync(out)).buffer);
    const opened = await openSession(fs.readFileSync(file), 'cpu', file);
    const ort = (await runBatch(opened.session, x, [8, 1, 28, 28])).data;
    await opened.session.release();
    assert.equal(cv.length, ort.length);
    const largest = Math.max(...Array.from(ort, Math.abs));
    assert.ok(maxAbsDiff(cv, ort) <= 1e-4 * Math.max(1, largest), `OpenCV and ONNX Runtime differ by ${maxAbsDiff(cv, ort)}`);
  });
}
