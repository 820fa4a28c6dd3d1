import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {cbp, cbpJson, errorText} from '../cli';
import {untrainedRun} from '../untrained';
import {classifier, encode, ints, node, valueInfo} from '../hostile/onnx-import';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-quiet-'));
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const onnx = path.join(tmp, 'lenet5_bin.onnx');
cbpJson(['export', '--checkpoint', untrainedRun(path.join(tmp, 'run'), 'lenet5', 'bin', 'mnist'), '--out', onnx]);

/** Dawn's own lines (a missing Vulkan loader, with the path of its C++ source), not cbp's. */
const NATIVE = /dawn|BackendVk|\.cpp\b|libvulkan|Couldn't load Vulkan/i;

test('a CPU eval and a CPU train say nothing about installing CUDA; train\'s output starts with its result, not a blank line', () => {
  const ev = cbp(['eval', '--onnx', onnx, '--data', 'mnist', '--limit', '64'], 120_000);
  assert.equal(ev.status, 0, ev.stderr);
  assert.match(ev.stderr, /^device: cpu, \d+ threads? \(--device auto\)$/m);
  assert.doesNotMatch(ev.stdout + ev.stderr, /CUDA|ONNXRUNTIME_NODE_INSTALL/);
  const tr = cbp(['train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--limit', '256', '--test-limit', '256', '--epochs', '1', '--no-plot', '--out', path.join(tmp, 'trained')], 120_000);
  assert.equal(tr.status, 0, tr.stderr);
  assert.doesNotMatch(tr.stdout + tr.stderr, /CUDA|ONNXRUNTIME_NODE_INSTALL/);
  assert.match(tr.stdout, /^lenet5 bin on mnist: top-1 /);
  // Asked for, CUDA's absence is explained, with how to install it.
  const cuda = cbp(['eval', '--onnx', onnx, '--data', 'mnist', '--limit', '64', '--device', 'cuda'], 120_000);
  if (cuda.status !== 0) assert.match(errorText(cuda.stderr), /--device cuda: CUDA is not available: .*(install|did not load)/);
});

test('--device webgpu without a GPU adapter ends with cbp\'s one-line error and none of Dawn\'s native log lines', () => {
  for (const args of [
    ['eval', '--onnx', onnx, '--data', 'mnist', '--limit', '64', '--device', 'webgpu'],
    ['train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--limit', '256', '--test-limit', '256', '--epochs', '1', '--no-plot', '--device', 'webgpu', '--out', path.join(tmp, 'webgpu')],
  ]) {
    const r = cbp(args, 120_000);
    assert.doesNotMatch(r.stdout + r.stderr, NATIVE, `cbp ${args.join(' ')}`);
    // A machine with a working adapter runs it; this one (no Vulkan) refuses it, in one message.
    if (r.status === 0) continue;
    assert.equal(r.status, 2, r.stderr);
    assert.match(errorText(r.stderr), /--device webgpu: ONNX Runtime's WebGPU provider did not start \(.+\); use --device cpu/);
    assert.match(r.stderr, /Code: NO_WEBGPU/);
  }
});

test('ONNX Runtime\'s own log stays out: a model that fails while it runs ends with cbp\'s one-line error, not ONNX Runtime\'s red log line first', () => {
  // A Reshape to a shape its input cannot take: ONNX Runtime loads it and fails on the first batch.
  const m = classifier();
  m.graph.initializer.push(ints('bad', [0, 999]));
  node(m, '/Flatten').op_type = 'Reshape';
  node(m, '/Flatten').input = ['p', 'bad'];
  m.graph.input = [valueInfo('input', 1, ['N', 1, 28, 28])];
  const file = path.join(tmp, 'fails.onnx');
  fs.writeFileSync(file, encode(m));
  const r = cbp(['eval', '--onnx', file, '--data', 'mnist', '--limit', '8', '--batch-size', '4']);
  assert.equal(r.status, 2);
  assert.ok(!/\[E:onnxruntime|\x1b\[0;31m|sequential_executor/.test(r.stderr), r.stderr);
  assert.match(errorText(r.stderr), /fails\.onnx.*ONNX Runtime/);
});
