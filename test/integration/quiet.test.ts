import {after, test} from 'node:test';
import {spawnSync} from 'node:child_process';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {cbp, cbpJson, errorText} from '../cli';
import {untrainedRun} from '../untrained';
import {classifier, encode, floats, ints} from '../hostile/onnx-import';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-quiet-');
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

test('ONNX Runtime\'s own log stays out: a session that fails while it runs gives cbp\'s error, without ONNX Runtime\'s red log line first', () => {
  // A Reshape to a shape computed at run time that its input cannot take: ONNX Runtime loads the model and fails on
  // the first batch, logging an error line of its own unless told not to. In a child process, whose stderr is read.
  const m = classifier();
  m.graph.initializer = m.graph.initializer.filter((t) => t.name !== 'fc.weight');
  m.graph.initializer.push(floats('fc.weight', [10, 999]), ints('i0', [0]), ints('n999', [999]));
  m.graph.node.splice(m.graph.node.findIndex((n) => n.name === '/Flatten'), 1,
    {name: '/Shape', op_type: 'Shape', input: ['p'], output: ['sh']},
    {name: '/Gather', op_type: 'Gather', input: ['sh', 'i0'], output: ['n']},
    {name: '/Concat', op_type: 'Concat', input: ['n', 'n999'], output: ['to'], attribute: [{name: 'axis', type: 2, i: 0}]},
    {name: '/Reshape', op_type: 'Reshape', input: ['p', 'to'], output: ['f']});
  const file = path.join(tmp, 'fails.onnx');
  fs.writeFileSync(file, encode(m));
  const ort = path.join(__dirname, '..', '..', 'src', 'core', 'ort.js');
  const script = `const {openSession, runBatch} = require(${JSON.stringify(ort)});
(async () => {
  try {
    const {session} = await openSession(require('fs').readFileSync(${JSON.stringify(file)}), 'cpu', 'fails.onnx');
    await runBatch(session, new Float32Array(2 * 64), [2, 1, 8, 8], 'fails.onnx');
  } catch (e) { process.stdout.write(e.message); }
})();`;
  const r = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8'});
  assert.match(r.stdout, /^fails\.onnx: ONNX Runtime failed running a batch of \[2, 1, 8, 8\]: Non-zero status code returned while running Reshape node/);
  assert.ok(!/\[E:onnxruntime|\x1b\[|sequential_executor/.test(r.stderr), r.stderr);
});
